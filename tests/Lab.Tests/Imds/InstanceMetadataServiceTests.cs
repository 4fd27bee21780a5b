using System.Net;
using Fathom.Lab.Ec2;
using Fathom.Lab.Imds;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Lab.Tests.Imds;

/// <summary>IMDSv2 semantics against a real <see cref="Ec2Cloud"/> (no kernel: <see cref="NullVpcFabric"/>).</summary>
public sealed class InstanceMetadataServiceTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
    private readonly Ec2Cloud _cloud;
    private Instance _node1 = null!, _node2 = null!;
    private readonly Dictionary<string, DateTimeOffset> _attachedAt = [];
    private readonly InstanceMetadataService _imds;

    public InstanceMetadataServiceTests()
    {
        _cloud = new Ec2Cloud(new NullVpcFabric(), new Ec2CloudOptions(), _time, new Random(7));
        _imds = new InstanceMetadataService(_cloud, id => _attachedAt.TryGetValue(id, out var at) ? at : null, _time)
        {
            EniVisibilityDelay = TimeSpan.FromSeconds(5),
        };
    }

    public async Task InitializeAsync()
    {
        var subnet = _cloud.CreateSubnet("10.0.0.0/20", "us-east-1a");
        _node1 = await _cloud.LaunchInstanceAsync("t3.medium", subnet.SubnetId, "node1");
        _node2 = await _cloud.LaunchInstanceAsync("m5.large", subnet.SubnetId, "node2");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private string Token(Instance instance)
    {
        var answer = _imds.Handle("PUT", "/latest/api/token", instance.PrivateIp, null, "21600");
        Assert.Equal(200, answer.Status);
        return answer.Body;
    }

    private ImdsResponse Get(Instance instance, string path, string? token) =>
        _imds.Handle("GET", "/latest/meta-data/" + path, instance.PrivateIp, token, null);

    [Fact]
    public void GetWithoutTokenIsUnauthorized()
    {
        Assert.Equal(401, Get(_node1, "instance-id", null).Status);
        Assert.Equal(401, Get(_node1, "instance-id", "forged").Status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("0")]
    [InlineData("21601")]
    [InlineData("soon")]
    public void TokenNeedsAValidTtl(string? ttl) =>
        Assert.Equal(400, _imds.Handle("PUT", "/latest/api/token", _node1.PrivateIp, null, ttl).Status);

    [Fact]
    public void AnswersForTheCallingInstance()
    {
        Assert.Equal(_node1.InstanceId, Get(_node1, "instance-id", Token(_node1)).Body);
        Assert.Equal(_node2.InstanceId, Get(_node2, "instance-id", Token(_node2)).Body);
        Assert.Equal("m5.large", Get(_node2, "instance-type", Token(_node2)).Body);
        Assert.Equal("us-east-1a", Get(_node1, "placement/availability-zone", Token(_node1)).Body);
        Assert.Equal(_node1.MacAddress, Get(_node1, "mac", Token(_node1)).Body);
    }

    [Fact]
    public void ATokenIsBoundToItsInstanceAndExpires()
    {
        var token = _imds.Handle("PUT", "/latest/api/token", _node1.PrivateIp, null, "60").Body;
        Assert.Equal(401, Get(_node2, "instance-id", token).Status);
        Assert.Equal(200, Get(_node1, "instance-id", token).Status);
        _time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(401, Get(_node1, "instance-id", token).Status);
    }

    [Fact]
    public void StrangersAreRefused() =>
        Assert.Equal(403, _imds.Handle("PUT", "/latest/api/token", IPAddress.Parse("192.0.2.1"), null, "60").Status);

    [Fact]
    public async Task ANewEniAppearsAfterTheDelayWithItsDetails()
    {
        var token = Token(_node1);
        var eni = await _cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = _node1.SubnetId, SecondaryPrivateIpCount = 2 });
        await _cloud.AttachNetworkInterfaceAsync(eni.NetworkInterfaceId, _node1.InstanceId, 1);
        _attachedAt[eni.NetworkInterfaceId] = _time.GetUtcNow();

        Assert.Equal(_node1.MacAddress + "/", Get(_node1, "network/interfaces/macs/", token).Body);
        Assert.Equal(404, Get(_node1, $"network/interfaces/macs/{eni.MacAddress}/interface-id", token).Status);

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal($"{_node1.MacAddress}/\n{eni.MacAddress}/", Get(_node1, "network/interfaces/macs/", token).Body);
        var prefix = $"network/interfaces/macs/{eni.MacAddress}/";
        Assert.Equal(eni.NetworkInterfaceId, Get(_node1, prefix + "interface-id", token).Body);
        Assert.Equal("1", Get(_node1, prefix + "device-number", token).Body);
        Assert.Equal(_node1.SubnetId, Get(_node1, prefix + "subnet-id", token).Body);
        Assert.Equal("10.0.0.0/20", Get(_node1, prefix + "subnet-ipv4-cidr-block", token).Body);
        Assert.Equal(3, Get(_node1, prefix + "local-ipv4s", token).Body.Split('\n').Length);
        Assert.Equal(eni.PrivateIp.ToString(), Get(_node1, prefix + "local-ipv4s", token).Body.Split('\n')[0]);
        Assert.Equal(_cloud.DefaultSecurityGroupId, Get(_node1, prefix + "security-group-ids", token).Body);
        // Not node2's.
        Assert.Equal(404, Get(_node2, prefix + "interface-id", Token(_node2)).Status);
    }

    [Fact]
    public async Task AnswersWhatTheEc2ApiSaysOfTheSameCloud()
    {
        // Not the lab's defaults: IMDS must read the cloud, as DescribeInstances does.
        var cloud = new Ec2Cloud(new NullVpcFabric(), new Ec2CloudOptions
        {
            Region = "eu-west-1", AccountId = "210987654321", ImageId = "ami-00000000000000001", VpcCidr = IPNetwork.Parse("10.9.0.0/16"),
        }, _time, new Random(7));
        var node = await cloud.LaunchInstanceAsync("t3.medium", cloud.CreateSubnet("10.9.0.0/20", "eu-west-1a").SubnetId, "node1");
        var imds = new InstanceMetadataService(cloud, _ => null, _time);
        var token = imds.Handle("PUT", "/latest/api/token", node.PrivateIp, null, "60").Body;
        string Get(string path) => imds.Handle("GET", "/latest/meta-data/" + path, node.PrivateIp, token, null).Body;

        Assert.Equal("ami-00000000000000001", Get("ami-id"));
        Assert.Equal("eu-west-1", Get("placement/region"));
        Assert.Equal(Ec2Xml.PrivateDnsName(node.PrivateIp, "eu-west-1"), Get("local-hostname"));
        Assert.EndsWith(".eu-west-1.compute.internal", Get("local-hostname"));
        Assert.Equal("210987654321", Get($"network/interfaces/macs/{node.MacAddress}/owner-id"));
        Assert.Equal("10.9.0.0/16", Get($"network/interfaces/macs/{node.MacAddress}/vpc-ipv4-cidr-block"));
    }

    [Fact]
    public void UnknownPathsAre404() => Assert.Equal(404, Get(_node1, "no-such-thing", Token(_node1)).Status);
}
