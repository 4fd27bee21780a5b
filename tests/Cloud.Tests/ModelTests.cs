using System.Net;

namespace Fathom.Cloud.Tests;

public sealed class ModelTests
{
    [Theory]
    [InlineData("10.0.1.0/24", "10.0.1.1")]
    [InlineData("10.0.3.0/28", "10.0.3.1")]
    [InlineData("172.31.0.0/16", "172.31.0.1")]
    [InlineData("10.0.0.0/8", "10.0.0.1")]
    public void The_gateway_is_the_first_host_of_the_subnet_as_in_AWS(string cidr, string gateway)
    {
        Assert.Equal(IPAddress.Parse(gateway), new SubnetInfo("subnet-1", IPNetwork.Parse(cidr), "us-east-1a", 0).Gateway);
        Assert.Equal(IPAddress.Parse(gateway), ScriptedCloudProvider.SampleEni() with { SubnetCidr = IPNetwork.Parse(cidr) } is var eni ? eni.Gateway : null);
    }

    [Fact]
    public void Eni_tags_name_cluster_node_and_creation_time()
    {
        var at = new DateTimeOffset(2026, 12, 6, 0, 40, 5, TimeSpan.FromHours(2));
        var tags = EniTags.For("prod", "node-1", at);
        Assert.Equal(new Dictionary<string, string>
        {
            ["fathom.io/cluster"] = "prod",
            ["fathom.io/node"] = "node-1",
            ["fathom.io/created-at"] = "2026-12-05T22:40:05Z",
        }, tags);
        Assert.Equal(at, EniTags.CreatedAtOf(tags));
        Assert.Null(EniTags.CreatedAtOf(new Dictionary<string, string> { [EniTags.CreatedAt] = "yesterday" }));
    }

    [Fact]
    public void Limits_leave_the_primary_address_out_of_the_secondaries() =>
        Assert.Equal(9, new InstanceLimits("m5.large", 3, 10).SecondaryIpsPerEni);

    [Fact]
    public void Every_operation_names_its_EC2_action() =>
        Assert.Equal(CloudOperations.All.Count, CloudOperations.All.Select(o => o.ActionName()).Distinct().Count());
}
