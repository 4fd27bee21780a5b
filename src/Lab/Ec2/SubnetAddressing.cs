using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// The private addresses of the VPC's subnets: which are in use, which may be handed out, and
/// the one rule of where the router sits. EC2's rules: AWS reserves the network address, +1
/// (router), +2 (DNS), +3 (future) and the last address of every subnet (VPC user guide,
/// "Subnet CIDR blocks"). Callers hold the cloud's writer mutex or its gate.
/// </summary>
internal sealed class SubnetAddressing(Random random)
{
    /// <summary>The five addresses AWS keeps in every subnet.</summary>
    private const int ReservedAddressesPerSubnet = 5;

    private readonly Dictionary<string, HashSet<uint>> _used = new(StringComparer.Ordinal);

    /// <summary>The VPC router's address in a subnet: the network address + 1 — for the API and for the lab's bridge alike.</summary>
    public static IPAddress Gateway(IPNetwork subnet) => FromUInt(ToUInt(subnet.BaseAddress) + 1);

    /// <summary>Starts tracking a new, empty subnet.</summary>
    public void AddSubnet(string subnetId) => _used[subnetId] = [];

    /// <summary>Free addresses: the block minus the five reserved minus those in use.</summary>
    public int Available(SubnetRecord subnet) => (1 << (32 - subnet.Cidr.PrefixLength)) - ReservedAddressesPerSubnet - _used[subnet.Id].Count;

    /// <summary>Marks addresses of <paramref name="subnetId"/> as in use.</summary>
    public void Take(string subnetId, IEnumerable<IPAddress> addresses)
    {
        var used = _used[subnetId];
        foreach (var ip in addresses) used.Add(ToUInt(ip));
    }

    /// <summary>Gives addresses of <paramref name="subnetId"/> back.</summary>
    public void Release(string subnetId, IEnumerable<IPAddress> addresses)
    {
        var used = _used[subnetId];
        foreach (var ip in addresses) used.Remove(ToUInt(ip));
    }

    /// <summary>Checks addresses a caller asked for: in the subnet, not reserved, free, not twice.</summary>
    /// <exception cref="Ec2Exception">InvalidParameterValue; InvalidIPAddress.InUse.</exception>
    public List<IPAddress> ValidateRequested(SubnetRecord subnet, IReadOnlyList<IPAddress> requested)
    {
        var (first, last) = UsableRange(subnet.Cidr);
        var used = _used[subnet.Id];
        var result = new List<IPAddress>();
        foreach (var ip in requested)
        {
            if (ip.AddressFamily != AddressFamily.InterNetwork || !subnet.Cidr.Contains(ip))
                throw new Ec2Exception(InvalidParameterValue, $"Address {ip} does not fall within the subnet's address range");
            var value = ToUInt(ip);
            if (value < first || value > last)
                throw new Ec2Exception(InvalidParameterValue, $"Address {ip} is reserved in subnet {subnet.Id}");
            if (used.Contains(value) || result.Contains(ip))
                throw new Ec2Exception(InvalidIpAddressInUse, $"Address {ip} is in use.");
            result.Add(ip);
        }
        return result;
    }

    /// <summary>
    /// Picks <paramref name="count"/> free addresses, not in <paramref name="alsoTaken"/>. EC2 does
    /// not hand out the lowest free address but a scattered one; the injected random source makes
    /// the choice deterministic in tests.
    /// </summary>
    /// <exception cref="Ec2Exception">InsufficientFreeAddressesInSubnet.</exception>
    public List<IPAddress> Allocate(SubnetRecord subnet, int count, IReadOnlyList<IPAddress> alsoTaken)
    {
        var (first, last) = UsableRange(subnet.Cidr);
        var used = _used[subnet.Id];
        var taken = alsoTaken.Select(ToUInt).ToHashSet();
        var span = last - first + 1;
        if (count > span - used.Count - taken.Count(t => !used.Contains(t)))
            throw new Ec2Exception(InsufficientFreeAddressesInSubnet, $"Insufficient free IP addresses in subnet {subnet.Id}.");
        var result = new List<IPAddress>(count);
        for (var i = 0; i < count; i++)
        {
            var candidate = first + (uint)random.NextInt64(span);
            while (used.Contains(candidate) || taken.Contains(candidate))
                candidate = candidate == last ? first : candidate + 1;
            taken.Add(candidate);
            result.Add(FromUInt(candidate));
        }
        return result;
    }

    /// <summary>Usable host range of a subnet: after the four reserved at the start, before the broadcast address.</summary>
    private static (uint First, uint Last) UsableRange(IPNetwork net)
    {
        var baseAddress = ToUInt(net.BaseAddress);
        var size = 1u << (32 - net.PrefixLength);
        return (baseAddress + 4, baseAddress + size - 2);
    }

    private static uint ToUInt(IPAddress ip)
    {
        Span<byte> bytes = stackalloc byte[4];
        ip.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    private static IPAddress FromUInt(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
