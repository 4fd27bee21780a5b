namespace Fathom.Cloud.Aws.Tests;

/// <summary>
/// Tags on an ENI that exists (CreateTags, DeleteTags) and what sticky ENIs (issue 11 §3) count on:
/// finding an ENI by a tag's value, and EC2 refusing to attach an ENI that is in use.
/// </summary>
public sealed class AwsCloudProviderTagTests : IAsyncLifetime
{
    private LabCloud _lab = null!;
    private AwsCloudProvider _cloud = null!;

    public async Task InitializeAsync()
    {
        _lab = await LabCloud.StartAsync();
        _cloud = _lab.ProviderFor(_lab.Large);
    }

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private Task<Eni> CreateAsync() => _cloud.CreateEniAsync(new CreateEniRequest
    {
        SubnetId = _lab.Subnet1.SubnetId,
        Tags = EniTags.For("lab", "node-large", DateTimeOffset.UnixEpoch),
    });

    [Fact]
    public async Task Tags_are_added_replaced_and_removed_and_found_by_value()
    {
        var eni = await CreateAsync();
        var other = await CreateAsync();
        var sticky = EniTags.StickyValue("db", "web-0");
        await _cloud.CreateTagsAsync(eni.EniId, new Dictionary<string, string> { [EniTags.Sticky] = sticky, [EniTags.StickyReleased] = "1" });
        await _cloud.CreateTagsAsync(other.EniId, new Dictionary<string, string> { [EniTags.Sticky] = EniTags.StickyValue("db", "web-1") });

        var found = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByTags(new Dictionary<string, string>
        {
            [EniTags.Cluster] = "lab",
            [EniTags.Sticky] = sticky,
        })));
        Assert.Equal(eni.EniId, found.EniId);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1), EniTags.StickyReleasedAt(found.Tags));

        // A key it has is replaced; removing a key leaves the others (the cluster's among them).
        await _cloud.CreateTagsAsync(eni.EniId, new Dictionary<string, string> { [EniTags.StickyReleased] = "1700000000" });
        found = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)));
        Assert.Equal("1700000000", found.Tags[EniTags.StickyReleased]);
        await _cloud.DeleteTagsAsync(eni.EniId, [EniTags.StickyReleased, "not-there"]);
        found = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)));
        Assert.False(found.Tags.ContainsKey(EniTags.StickyReleased));
        Assert.Equal((sticky, "lab"), (found.Tags[EniTags.Sticky], found.Tags[EniTags.Cluster]));
        Assert.Null(EniTags.StickyReleasedAt(found.Tags));

        // No keys: nothing to do (EC2's DeleteTags without tags would delete them all).
        await _cloud.DeleteTagsAsync(eni.EniId, []);
        Assert.Equal(4, Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId))).Tags.Count);
    }

    [Fact]
    public async Task Tagging_an_ENI_that_does_not_exist_is_NotFound()
    {
        var e = await Assert.ThrowsAsync<CloudException>(() =>
            _cloud.CreateTagsAsync("eni-00000000000000000", new Dictionary<string, string> { [EniTags.Sticky] = "a/b" }));
        Assert.Equal(CloudErrorKind.NotFound, e.Kind);
        e = await Assert.ThrowsAsync<CloudException>(() => _cloud.DeleteTagsAsync("eni-00000000000000000", [EniTags.Sticky]));
        Assert.Equal(CloudErrorKind.NotFound, e.Kind);
    }

    [Fact]
    public async Task An_ENI_in_use_cannot_be_attached_to_a_second_instance()
    {
        var eni = await CreateAsync();
        var attachment = await _cloud.AttachEniAsync(eni.EniId, _lab.Large.InstanceId, 1);
        await _cloud.WaitForAttachmentAsync(eni.EniId, attachment);
        var e = await Assert.ThrowsAsync<CloudException>(() => _cloud.AttachEniAsync(eni.EniId, _lab.Big.InstanceId, 1));
        Assert.Equal(CloudErrorKind.Invalid, e.Kind);
        Assert.Equal("InvalidNetworkInterface.InUse", e.Code);
        var described = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)));
        Assert.Equal((_lab.Large.InstanceId, attachment), (described.InstanceId, described.AttachmentId));

        // Detached from one, it attaches to the other with its MAC and address (what a hand-over does).
        await _cloud.DetachEniAsync(attachment);
        await _cloud.WaitForDetachmentAsync(eni.EniId);
        var moved = await _cloud.AttachEniAsync(eni.EniId, _lab.Big.InstanceId, 1);
        var there = await _cloud.WaitForAttachmentAsync(eni.EniId, moved, new AttachmentWaitOptions { WaitForMetadata = false });
        Assert.Equal((_lab.Big.InstanceId, eni.Mac, eni.PrimaryIp), (there.InstanceId, there.Mac, there.PrimaryIp));
    }
}
