namespace Fathom.Cloud.Aws.Tests;

/// <summary>
/// What sticky shared pods (issue 11 §3) count on, through the real SDK against the lab's EC2: finding an
/// ENI by a tag key whatever its value (the <c>tag-key</c> filter), the sticky IP tag's value read back,
/// and AssignPrivateIpAddresses with AllowReassignment moving an address between ENIs.
/// </summary>
public sealed class AwsCloudProviderReassignTests : IAsyncLifetime
{
    private LabCloud _lab = null!;
    private AwsCloudProvider _cloud = null!;

    public async Task InitializeAsync()
    {
        _lab = await LabCloud.StartAsync();
        _cloud = _lab.ProviderFor(_lab.Large);
    }

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private Task<Eni> CreateAsync(int secondaries = 0) => _cloud.CreateEniAsync(new CreateEniRequest
    {
        SubnetId = _lab.Subnet1.SubnetId,
        Tags = EniTags.For("lab", "node-large", DateTimeOffset.UnixEpoch),
        SecondaryIpCount = secondaries,
    });

    [Fact]
    public async Task An_ENI_is_found_by_a_tag_key_and_its_sticky_IP_moves_to_another_ENI()
    {
        var from = await CreateAsync(secondaries: 1);
        var to = await CreateAsync();
        var ip = from.SecondaryIps[0];
        var key = EniTags.StickyIpKey("db", "web-0");
        var tag = new StickyIpTag(ip.ToString(), "lab", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        await _cloud.CreateTagsAsync(from.EniId, new Dictionary<string, string> { [key] = tag.ToString() });
        await _cloud.CreateTagsAsync(to.EniId, new Dictionary<string, string> { [EniTags.StickyIpKey("db", "web-1")] = "ip=10.0.0.1;cluster=lab" });

        var found = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByTagKey(key)));
        Assert.Equal(from.EniId, found.EniId);
        Assert.Equal(tag, StickyIpTag.Parse(found.Tags[key]));

        await _cloud.ReassignPrivateIpAsync(to.EniId, ip);
        var both = await _cloud.DescribeEnisAsync(EniQuery.ByIds(from.EniId, to.EniId));
        Assert.Empty(both.Single(e => e.EniId == from.EniId).SecondaryIps);
        Assert.Equal([ip], both.Single(e => e.EniId == to.EniId).SecondaryIps);
    }
}
