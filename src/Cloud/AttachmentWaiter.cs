namespace Fathom.Cloud;

/// <summary>How long and how often <see cref="AttachmentWaiter"/> polls.</summary>
public sealed record AttachmentWaitOptions
{
    /// <summary>The first pause between polls (default 100 ms); it doubles up to <see cref="MaxInterval"/>.</summary>
    public TimeSpan InitialInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest pause between polls (default 2 s).</summary>
    public TimeSpan MaxInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long to wait in all (default 60 s; EC2 attaches in seconds, rarely more).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Also wait until the metadata service lists the ENI's MAC (default true): what the node
    /// needs before it can use the device. Only meaningful when the caller runs on the instance
    /// the ENI is attached to; set false otherwise.
    /// </summary>
    public bool WaitForMetadata { get; init; } = true;
}

/// <summary>
/// Waits until an attachment that <see cref="ICloudProvider.AttachEniAsync"/> started is visible:
/// first as "attached" to the API (EC2 answers AttachNetworkInterface while it is still
/// "attaching"), then in the instance's metadata (IMDS lists a new ENI seconds later; the AWS VPC
/// CNI waits for the same). Polls with bounded exponential backoff, through whatever provider it
/// is given — so through the rate limiter when that is a <see cref="ResilientCloudProvider"/>.
/// </summary>
public static class AttachmentWaiter
{
    /// <summary>Code of the <see cref="CloudException"/> (<see cref="CloudErrorKind.Transient"/>) thrown when the attachment is still not attached at the time-out.</summary>
    public const string TimeoutCode = "Fathom.AttachmentTimeout";

    /// <summary>Code of the <see cref="CloudException"/> (<see cref="CloudErrorKind.NotFound"/>) thrown when the ENI no longer carries the attachment (it failed or was detached).</summary>
    public const string LostCode = "Fathom.AttachmentLost";

    /// <summary>Polls until ENI <paramref name="eniId"/> shows attachment <paramref name="attachmentId"/> as attached; returns the ENI as then described.</summary>
    /// <exception cref="CloudException"><see cref="TimeoutCode"/> after <see cref="AttachmentWaitOptions.Timeout"/>; <see cref="LostCode"/> when the attachment is gone; any error of the describe call.</exception>
    public static async Task<Eni> WaitForAttachmentAsync(this ICloudProvider cloud, string eniId, string attachmentId,
        AttachmentWaitOptions? options = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cloud);
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentException.ThrowIfNullOrEmpty(attachmentId);
        var wait = options ?? new AttachmentWaitOptions();
        return await PollAsync(cloud, eniId, async eni =>
        {
            if (eni.AttachmentId != attachmentId)
                throw new CloudException(CloudErrorKind.NotFound, LostCode,
                    $"network interface {eniId} no longer carries attachment {attachmentId} (it is {eni.AttachmentState})");
            return eni.AttachmentState == EniAttachmentState.Attached
                && (!wait.WaitForMetadata || (await cloud.DescribeLocalMacsAsync(cancellationToken).ConfigureAwait(false)).Contains(eni.Mac));
        }, eni => eni.AttachmentState == EniAttachmentState.Attached
            ? $"attachment {attachmentId} of {eniId} is attached but the instance metadata still does not list {eni.Mac}"
            : $"attachment {attachmentId} of {eniId} still {eni.AttachmentState}",
            wait, time ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls until ENI <paramref name="eniId"/> is detached (EC2 goes through "detaching" for a
    /// few seconds, and refuses DeleteNetworkInterface with InvalidNetworkInterface.InUse until it
    /// is done); returns the ENI as then described. Same polling and time-out as the attach wait.
    /// </summary>
    /// <exception cref="CloudException"><see cref="TimeoutCode"/> after <see cref="AttachmentWaitOptions.Timeout"/>; NotFound when the ENI no longer exists.</exception>
    public static async Task<Eni> WaitForDetachmentAsync(this ICloudProvider cloud, string eniId,
        AttachmentWaitOptions? options = null, TimeProvider? time = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(cloud);
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        return await PollAsync(cloud, eniId, eni => Task.FromResult(eni.AttachmentState == EniAttachmentState.Detached),
            eni => $"network interface {eniId} still {eni.AttachmentState}",
            options ?? new AttachmentWaitOptions(), time ?? TimeProvider.System, cancellationToken).ConfigureAwait(false);
    }

    // Describes the ENI with bounded exponential backoff until done says so; the ENI's disappearing is
    // NotFound (LostCode), the time-out Transient (TimeoutCode) with stillWaiting's words.
    private static async Task<Eni> PollAsync(ICloudProvider cloud, string eniId, Func<Eni, Task<bool>> done,
        Func<Eni, string> stillWaiting, AttachmentWaitOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var interval = options.InitialInterval;
        while (true)
        {
            var eni = (await cloud.DescribeEnisAsync(EniQuery.ByIds(eniId), cancellationToken).ConfigureAwait(false))
                .FirstOrDefault(e => e.EniId == eniId)
                ?? throw new CloudException(CloudErrorKind.NotFound, LostCode, $"network interface {eniId} is gone");
            if (await done(eni).ConfigureAwait(false))
                return eni;
            var left = options.Timeout - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
                throw new CloudException(CloudErrorKind.Transient, TimeoutCode, $"{stillWaiting(eni)} after {options.Timeout.TotalSeconds:0.#} s");
            await Task.Delay(interval < left ? interval : left, time, cancellationToken).ConfigureAwait(false);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, options.MaxInterval.Ticks));
        }
    }
}
