namespace Fathom.Cloud;

/// <summary>Calls on any <see cref="ICloudProvider"/> whose answer every caller reads the same way.</summary>
public static class CloudProviderExtensions
{
    /// <summary>
    /// Deletes a detached ENI; one already gone is what was wanted (NotFound: deleted by someone else,
    /// or by an earlier try of this call whose answer was lost and whose retry found it gone).
    /// </summary>
    public static async Task DeleteEniIfPresentAsync(this ICloudProvider cloud, string eniId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cloud);
        try
        {
            await cloud.DeleteEniAsync(eniId, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
        {
        }
    }

    /// <summary>
    /// Detaches an ENI; an attachment already gone is what was wanted (NotFound: detached by an earlier
    /// try of this call whose answer was lost, or by EC2 with the instance it was attached to).
    /// </summary>
    public static async Task DetachEniIfAttachedAsync(this ICloudProvider cloud, string attachmentId, bool force,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cloud);
        try
        {
            await cloud.DetachEniAsync(attachmentId, force, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
        {
        }
    }
}
