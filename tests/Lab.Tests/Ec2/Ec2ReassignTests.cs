using System.Net;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// AssignPrivateIpAddresses with AllowReassignment (issue 11 §3: a sticky shared pod's IP moves to another
/// node's ENI): the address leaves its holder in the same step, the fabric hears the old ENI first (its
/// mapping of the IP goes before the new one is made), and without the flag, or for a primary, EC2 refuses.
/// </summary>
public sealed class Ec2ReassignTests
{
    [Fact]
    public async Task AllowReassignment_moves_a_secondary_IP_between_ENIs_of_a_subnet_and_only_with_it()
    {
        var fabric = new RecordingFabric();
        var cloud = new Ec2Cloud(fabric, new Ec2CloudOptions(), random: new Random(3));
        var subnet = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        var from = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId, SecondaryPrivateIpCount = 2 });
        var to = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = subnet.SubnetId });
        var ip = from.SecondaryPrivateIps[0];

        var refused = await Assert.ThrowsAsync<Ec2Exception>(() => cloud.AssignPrivateIpAddressesAsync(to.NetworkInterfaceId, [ip], 0));
        Assert.Equal("InvalidIPAddress.InUse", refused.Code);
        var primary = await Assert.ThrowsAsync<Ec2Exception>(() => cloud.AssignPrivateIpAddressesAsync(to.NetworkInterfaceId, [from.PrivateIp], 0,
            allowReassignment: true));
        Assert.Equal("InvalidParameterValue", primary.Code);

        fabric.Calls.Clear();
        Assert.Equal([ip], await cloud.AssignPrivateIpAddressesAsync(to.NetworkInterfaceId, [ip], 0, allowReassignment: true));
        Assert.Equal([$"changed {from.NetworkInterfaceId} {from.PrivateIp} +1", $"changed {to.NetworkInterfaceId} {to.PrivateIp} +1"], fabric.Calls);
        Assert.True(cloud.TryGetEni(from.NetworkInterfaceId, out var left));
        Assert.True(cloud.TryGetEni(to.NetworkInterfaceId, out var now));
        Assert.DoesNotContain(ip, left.SecondaryPrivateIps);
        Assert.Equal([ip], now.SecondaryPrivateIps);
        Assert.True(cloud.TryGetSubnet(subnet.SubnetId, out var after));
        Assert.Equal(251 - 4, after.AvailableIpAddressCount); // the move took no address of the subnet

        // A retried move (the answer lost) finds it there already: no error, nothing changes.
        await cloud.AssignPrivateIpAddressesAsync(to.NetworkInterfaceId, [ip], 0, allowReassignment: true);
        Assert.True(cloud.TryGetEni(to.NetworkInterfaceId, out now));
        Assert.Equal([ip], now.SecondaryPrivateIps);
    }

    [Fact]
    public async Task An_address_of_another_subnet_cannot_be_reassigned()
    {
        var cloud = new Ec2Cloud(new NullVpcFabric(), new Ec2CloudOptions(), random: new Random(3));
        var one = cloud.CreateSubnet("10.0.1.0/24", "us-east-1a");
        var two = cloud.CreateSubnet("10.0.2.0/24", "us-east-1a");
        var from = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = one.SubnetId, SecondaryPrivateIpCount = 1 });
        var to = await cloud.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceSpec { SubnetId = two.SubnetId });
        var refused = await Assert.ThrowsAsync<Ec2Exception>(() => cloud.AssignPrivateIpAddressesAsync(to.NetworkInterfaceId, [from.SecondaryPrivateIps[0]], 0,
            allowReassignment: true));
        Assert.Equal("InvalidParameterValue", refused.Code);
        Assert.True(cloud.TryGetEni(from.NetworkInterfaceId, out var kept));
        Assert.Equal(from.SecondaryPrivateIps, kept.SecondaryPrivateIps);
    }
}
