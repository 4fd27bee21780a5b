namespace Fathom.Cloud.Tests;

/// <summary>
/// The calls whose NotFound every caller reads as done: a delete or a detach retried after its first
/// answer was lost meets an ENI or an attachment already gone.
/// </summary>
public sealed class CloudProviderExtensionsTests
{
    private static CloudException Error(CloudErrorKind kind) => new(kind, kind.ToString(), $"{kind} happened");

    [Fact]
    public async Task An_eni_or_an_attachment_already_gone_is_done()
    {
        var cloud = new ScriptedCloudProvider().Then(Error(CloudErrorKind.NotFound), Error(CloudErrorKind.NotFound));

        await cloud.DeleteEniIfPresentAsync("eni-1");
        await cloud.DetachEniIfAttachedAsync("eni-attach-1", force: false);

        Assert.Equal([CloudOperation.DeleteEni, CloudOperation.DetachEni], cloud.Calls.Select(c => c.Operation));
    }

    [Theory]
    [InlineData(CloudErrorKind.Throttled)]
    [InlineData(CloudErrorKind.Transient)]
    [InlineData(CloudErrorKind.Invalid)]
    public async Task Any_other_failure_surfaces_unchanged(CloudErrorKind kind)
    {
        var cloud = new ScriptedCloudProvider().Then(Error(kind), Error(kind));

        Assert.Equal(kind, (await Assert.ThrowsAsync<CloudException>(() => cloud.DeleteEniIfPresentAsync("eni-1"))).Kind);
        Assert.Equal(kind, (await Assert.ThrowsAsync<CloudException>(() => cloud.DetachEniIfAttachedAsync("eni-attach-1", force: true))).Kind);
    }
}
