using System.Net;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>The state machine without HTTP: addressing, the fabric contract, termination, persistence.</summary>
public sealed class Ec2CloudTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-ec2-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Ec2Cloud NewCloud(IVpcFabric? fabric = null, string? statePath = null, int seed = 1) =>
        new(fabric ?? new NullVpcFabric(), new Ec2CloudOptions { StatePath = statePath }, random: new Random(seed));

    [Fact]
    public async Task Allocation_never_hands_out_AWSs_reserved_addresses_and_fills_the_subnet()
    {
        var cloud = NewCloud();
        var subnet = cloud.CreateSubnet("10.0.9.0/28", "us-east-1a");
        Assert.Equal(IPAddress.Parse("10.0.9.1"), subnet.Gateway);
        Assert.Equal(11, subnet.AvailableIpAddressCount);
        var eni = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId, SecondaryPrivateIpCount = 10 });
        var got = eni.AllPrivateIps.Select(ip => ip.ToString()).Order().ToList();
        var expected = Enumerable.Range(4, 11).Select(i => $"10.0.9.{i}").Order().ToList();
        Assert.Equal(expected, got);
        Assert.True(cloud.TryGetSubnet(subnet.SubnetId, out var full));
        Assert.Equal(0, full.AvailableIpAddressCount);
    }

    [Fact]
    public async Task Addresses_are_scattered_not_lowest_first_and_deterministic_for_a_seed()
    {
        static async Task<List<string>> Picks(int seed)
        {
            var cloud = NewCloud(seed: seed);
            var subnet = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
            var eni = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId, SecondaryPrivateIpCount = 5 });
            return [eni.NetworkInterfaceId, eni.MacAddress, .. eni.AllPrivateIps.Select(ip => ip.ToString())];
        }
        Assert.Equal(await Picks(5), await Picks(5));
        Assert.NotEqual(await Picks(5), await Picks(6));
        Assert.NotEqual(["10.0.1.4", "10.0.1.5"], (await Picks(5)).Skip(2).Take(2));
    }

    [Fact]
    public void Subnets_must_lie_in_the_VPC_and_not_overlap()
    {
        var cloud = NewCloud();
        cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        Assert.Equal("InvalidSubnet.Range", Assert.Throws<Ec2Exception>(() => cloud.CreateSubnet("192.168.0.0/24", "us-east-1a")).Code);
        Assert.Equal("InvalidSubnet.Range", Assert.Throws<Ec2Exception>(() => cloud.CreateSubnet("10.0.0.0/29", "us-east-1a")).Code);
        Assert.Equal("InvalidSubnet.Conflict", Assert.Throws<Ec2Exception>(() => cloud.CreateSubnet("10.0.1.128/25", "us-east-1a")).Code);
        Assert.Equal("InvalidParameterValue", Assert.Throws<Ec2Exception>(() => cloud.CreateSubnet("10.0.1.5/24", "us-east-1a")).Code);
    }

    [Fact]
    public async Task Launch_attach_and_terminate_drive_the_fabric_in_order()
    {
        var fabric = new RecordingFabric();
        var cloud = NewCloud(fabric);
        var subnet = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        var node = await cloud.LaunchInstanceAsync("c5.4xlarge", subnet.SubnetId, "node-1");
        Assert.Equal([$"changed {node.PrimaryNetworkInterfaceId} {node.PrivateIp} +0",
            $"attach {node.PrimaryNetworkInterfaceId} {node.InstanceId} eth0 {node.MacAddress} {node.PrivateIp}"], fabric.Calls);
        Assert.Equal(node.InstanceId, cloud.FindInstanceByPrivateIp(node.PrivateIp)?.InstanceId);
        Assert.Equal(node.InstanceId, cloud.FindInstanceByPrivateIp(node.PrivateIp.MapToIPv6())?.InstanceId);

        var eni = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId });
        await cloud.AttachNetworkInterfaceAsync(eni.NetworkInterfaceId, node.InstanceId, 1);
        var secondary = (await cloud.AssignPrivateIpAddressesAsync(eni.NetworkInterfaceId, [], 2)).First();
        Assert.Equal(node.InstanceId, cloud.FindInstanceByPrivateIp(secondary)?.InstanceId); // IMDS knows pods' callers too
        Assert.Equal([0, 1], cloud.GetInstanceEnis(node.InstanceId).Select(e => e.Attachment!.DeviceIndex));

        fabric.Calls.Clear();
        await cloud.TerminateInstanceAsync(node.InstanceId);
        Assert.Equal([$"detach {eni.NetworkInterfaceId} {node.InstanceId} eth1",
            $"detach {node.PrimaryNetworkInterfaceId} {node.InstanceId} eth0", $"deleted {node.PrimaryNetworkInterfaceId}"], fabric.Calls);
        Assert.False(cloud.TryGetInstance(node.InstanceId, out _));
        Assert.True(cloud.TryGetEni(eni.NetworkInterfaceId, out var left));
        Assert.Equal(("available", 3), (left.Status, left.AllPrivateIps.Count()));
        Assert.Null(cloud.FindInstanceByPrivateIp(node.PrivateIp));
    }

    [Fact]
    public async Task A_fabric_failure_is_InternalError_and_changes_nothing()
    {
        var fabric = new RecordingFabric();
        var cloud = NewCloud(fabric);
        var subnet = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        var node = await cloud.LaunchInstanceAsync("m5.large", subnet.SubnetId, "node-1");
        var eni = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId });

        fabric.FailAttach = true;
        var e = await Assert.ThrowsAsync<Ec2Exception>(() => cloud.AttachNetworkInterfaceAsync(eni.NetworkInterfaceId, node.InstanceId, 1));
        Assert.Equal(("InternalError", HttpStatusCode.InternalServerError), (e.Code, e.StatusCode));
        Assert.IsType<IOException>(e.InnerException);
        Assert.True(cloud.TryGetEni(eni.NetworkInterfaceId, out var still));
        Assert.Equal("available", still.Status);
        fabric.FailAttach = false;
        await cloud.AttachNetworkInterfaceAsync(eni.NetworkInterfaceId, node.InstanceId, 1); // the index was given back

        fabric.FailEniChanged = true;
        var free = cloud.Subnets.Single().AvailableIpAddressCount;
        await Assert.ThrowsAsync<Ec2Exception>(() => cloud.AssignPrivateIpAddressesAsync(eni.NetworkInterfaceId, [], 3));
        await Assert.ThrowsAsync<Ec2Exception>(() => cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId }));
        Assert.Equal(free, cloud.Subnets.Single().AvailableIpAddressCount);
        Assert.Equal(2, cloud.NetworkInterfaces.Count);
        await Assert.ThrowsAsync<Ec2Exception>(() => cloud.LaunchInstanceAsync("m5.large", subnet.SubnetId, "node-2"));
        Assert.Single(cloud.Instances);
    }

    [Fact]
    public async Task The_state_file_is_rewritten_after_every_mutation()
    {
        var path = Path.Combine(_dir, "ec2.json");
        var cloud = NewCloud(statePath: path);
        var subnet = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        var eni = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId });
        Assert.Contains(eni.MacAddress, File.ReadAllText(path));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp")); // the temp file was renamed over, not left behind

        await cloud.DeleteNetworkInterfaceAsync(eni.NetworkInterfaceId);
        Assert.DoesNotContain(eni.MacAddress, File.ReadAllText(path));
        Assert.Contains(subnet.SubnetId, File.ReadAllText(path));
    }

    [Fact]
    public async Task Concurrent_creates_never_share_an_address()
    {
        var cloud = NewCloud();
        var subnet = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        var enis = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => Task.Run(() =>
            cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId, SecondaryPrivateIpCount = 4 }))));
        var all = enis.SelectMany(e => e.AllPrivateIps).ToList();
        Assert.Equal(200, all.Distinct().Count());
        Assert.Equal(40, enis.Select(e => e.MacAddress).Distinct().Count());
        Assert.Equal(251 - 200, cloud.Subnets.Single().AvailableIpAddressCount);
    }
}
