using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fathom.Datastore;

/// <summary>
/// The cluster CIDR cut into node subnets of one length (flannel's Network and SubnetLen), e.g.
/// 10.244.0.0/16 in /24s: 256 subnets, numbered from 0 at the lowest address.
/// </summary>
public sealed class SubnetPool
{
    /// <summary>At most 2^20 subnets: a node count no cluster reaches, and an index that fits in an int.</summary>
    private const int MaxSubnetBits = 20;

    private readonly UInt128 _base;
    private readonly int _addressBits;

    /// <summary>Creates the pool; throws <see cref="ArgumentException"/> when the lengths do not fit.</summary>
    public SubnetPool(IPNetwork clusterCidr, int subnetLength)
    {
        _addressBits = clusterCidr.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        if (subnetLength <= clusterCidr.PrefixLength || subnetLength > _addressBits)
            throw new ArgumentException($"subnet length /{subnetLength} must be longer than the cluster CIDR {clusterCidr} and at most /{_addressBits}", nameof(subnetLength));
        if (subnetLength - clusterCidr.PrefixLength > MaxSubnetBits)
            throw new ArgumentException($"cluster CIDR {clusterCidr} in /{subnetLength} subnets makes more than 2^{MaxSubnetBits}; use a longer cluster prefix or a shorter subnet", nameof(subnetLength));
        ClusterCidr = clusterCidr;
        SubnetLength = subnetLength;
        Count = 1 << (subnetLength - clusterCidr.PrefixLength);
        _base = ToNumber(clusterCidr.BaseAddress);
    }

    /// <summary>Parses "10.244.0.0/16" and a length, as the configuration gives them.</summary>
    public static SubnetPool Parse(string clusterCidr, int subnetLength) =>
        IPNetwork.TryParse(clusterCidr, out var network) && network.ToString() == clusterCidr.Trim()
            ? new SubnetPool(network, subnetLength)
            : throw new ArgumentException($"'{clusterCidr}' is not a network in CIDR notation with its host bits zero (e.g. 10.244.0.0/16)", nameof(clusterCidr));

    /// <summary>The cluster's pod CIDR.</summary>
    public IPNetwork ClusterCidr { get; }

    /// <summary>The prefix length of each node's subnet.</summary>
    public int SubnetLength { get; }

    /// <summary>How many subnets the cluster CIDR holds.</summary>
    public int Count { get; }

    /// <summary>The subnet numbered <paramref name="index"/> (0 ≤ index &lt; <see cref="Count"/>).</summary>
    public IPNetwork this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            var number = _base + ((UInt128)(uint)index << (_addressBits - SubnetLength));
            return new IPNetwork(ToAddress(number, _addressBits), SubnetLength);
        }
    }

    /// <summary>The index of <paramref name="subnet"/>, or -1 when it is not one of this pool's subnets.</summary>
    public int IndexOf(IPNetwork subnet)
    {
        if (subnet.PrefixLength != SubnetLength || !ClusterCidr.Contains(subnet.BaseAddress)) return -1;
        var offset = ToNumber(subnet.BaseAddress) - _base;
        return (int)(offset >> (_addressBits - SubnetLength));
    }

    /// <summary>The subnet as a key or file name: "10.244.3.0-24" (flannel's form; no '/').</summary>
    public static string KeyOf(IPNetwork subnet) =>
        subnet.BaseAddress.ToString() + "-" + subnet.PrefixLength.ToString(CultureInfo.InvariantCulture);

    /// <summary>The subnet a key names, or null when the text is not one.</summary>
    public static IPNetwork? FromKey(string key)
    {
        var dash = key.LastIndexOf('-');
        if (dash < 0) return null;
        return IPNetwork.TryParse(string.Concat(key.AsSpan(0, dash), "/", key.AsSpan(dash + 1)), out var n) && KeyOf(n) == key ? n : null;
    }

    /// <inheritdoc/>
    public override string ToString() => $"{ClusterCidr} in /{SubnetLength}s";

    private static UInt128 ToNumber(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        return written == 4
            ? BinaryPrimitives.ReadUInt32BigEndian(bytes)
            : BinaryPrimitives.ReadUInt128BigEndian(bytes);
    }

    private static IPAddress ToAddress(UInt128 number, int bits)
    {
        Span<byte> bytes = stackalloc byte[16];
        if (bits == 32)
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)number);
            return new IPAddress(bytes[..4]);
        }
        BinaryPrimitives.WriteUInt128BigEndian(bytes, number);
        return new IPAddress(bytes);
    }
}
