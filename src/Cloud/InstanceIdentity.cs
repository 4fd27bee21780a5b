using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Cloud;

/// <summary>
/// Who this node is, as the cloud's metadata service tells it (DESIGN.md §4: learnt, not configured).
/// </summary>
/// <param name="InstanceId">e.g. i-0123456789abcdef0.</param>
/// <param name="InstanceType">e.g. m5.large; its limits come from <see cref="ICloudProvider.GetInstanceLimitsAsync"/>.</param>
/// <param name="AvailabilityZone">e.g. us-east-1a: only subnets of this zone can hold the node's ENIs.</param>
/// <param name="Region">e.g. us-east-1.</param>
/// <param name="PrimaryEniId">The ENI at device index 0, which the agent never hands out.</param>
/// <param name="PrimaryMac">The primary ENI's MAC.</param>
/// <param name="SubnetId">The primary ENI's subnet, the default for new ENIs.</param>
/// <param name="SubnetCidr">That subnet's IPv4 CIDR.</param>
/// <param name="SecurityGroupIds">The primary ENI's security groups, the default for new ENIs.</param>
/// <param name="VpcId">The VPC.</param>
/// <param name="VpcCidrs">The VPC's IPv4 CIDR blocks (a VPC may have several).</param>
public sealed record InstanceIdentity(
    string InstanceId,
    string InstanceType,
    string AvailabilityZone,
    string Region,
    string PrimaryEniId,
    PhysicalAddress PrimaryMac,
    string SubnetId,
    IPNetwork SubnetCidr,
    IReadOnlyList<string> SecurityGroupIds,
    string VpcId,
    IReadOnlyList<IPNetwork> VpcCidrs);

/// <summary>The network limits of an instance type.</summary>
/// <param name="InstanceType">e.g. m5.large.</param>
/// <param name="MaxEnis">Network interfaces the type can have attached, the primary included (m5.large: 3).</param>
/// <param name="Ipv4PerEni">Private IPv4 addresses per interface, the primary included (m5.large: 10).</param>
public sealed record InstanceLimits(string InstanceType, int MaxEnis, int Ipv4PerEni)
{
    /// <summary>Secondary addresses one ENI can carry: <see cref="Ipv4PerEni"/> − 1.</summary>
    public int SecondaryIpsPerEni => Ipv4PerEni - 1;
}

/// <summary>A subnet, with the gateway its hosts route through.</summary>
/// <param name="SubnetId">e.g. subnet-0123456789abcdef0.</param>
/// <param name="Cidr">Its IPv4 CIDR.</param>
/// <param name="AvailabilityZone">The zone it lies in.</param>
/// <param name="AvailableAddresses">Free addresses as the cloud counts them (EC2 reserves five per subnet).</param>
public sealed record SubnetInfo(string SubnetId, IPNetwork Cidr, string AvailabilityZone, int AvailableAddresses)
{
    /// <summary>The router: the first host of the CIDR, as AWS reserves network address + 1 for it (VPC user guide, "Subnet CIDR blocks").</summary>
    public IPAddress Gateway => GatewayOf(Cidr);

    /// <summary>The first host address of <paramref name="cidr"/> (network address + 1), where AWS puts a subnet's router.</summary>
    public static IPAddress GatewayOf(IPNetwork cidr)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (!cidr.BaseAddress.TryWriteBytes(bytes, out var length))
            throw new ArgumentException($"cannot read {cidr}", nameof(cidr));
        bytes = bytes[..length];
        // Add one with carry, so a base address ending in .255 (impossible for a /24 but valid for odd prefixes) still works.
        for (var i = bytes.Length - 1; i >= 0 && ++bytes[i] == 0; i--) { }
        return new IPAddress(bytes);
    }
}
