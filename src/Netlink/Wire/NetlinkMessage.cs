using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;

namespace Fathom.Netlink.Wire;

/// <summary>One message of a datagram: its nlmsghdr fields and payload.</summary>
internal readonly ref struct NetlinkMessage
{
    public NetlinkMessage(ushort type, ushort flags, uint sequence, uint portId, ReadOnlySpan<byte> payload)
    {
        Type = type;
        Flags = flags;
        Sequence = sequence;
        PortId = portId;
        Payload = payload;
    }

    public ushort Type { get; }
    public ushort Flags { get; }
    public uint Sequence { get; }
    public uint PortId { get; }
    public ReadOnlySpan<byte> Payload { get; }
}

/// <summary>
/// Walks the messages of one datagram (NLMSG_OK / NLMSG_NEXT of include/uapi/linux/netlink.h),
/// checking every length against what is left; anything inconsistent is a
/// <see cref="NetlinkException"/> (EPROTO), never an out-of-range exception.
/// </summary>
internal ref struct MessageReader
{
    private ReadOnlySpan<byte> _remaining;

    public MessageReader(ReadOnlySpan<byte> datagram) => _remaining = datagram;

    public bool TryRead(out NetlinkMessage message)
    {
        message = default;
        if (_remaining.IsEmpty) return false;
        if (_remaining.Length < Rtnl.HeaderLength)
            throw Malformed.Error($"{_remaining.Length} trailing bytes are too short for a netlink header");
        uint length = NativeEndian.ReadUInt32(_remaining);
        if (length < Rtnl.HeaderLength || length > (uint)_remaining.Length)
            throw Malformed.Error($"netlink message length {length} with {_remaining.Length} bytes left");
        message = new NetlinkMessage(
            NativeEndian.ReadUInt16(_remaining[4..]),
            NativeEndian.ReadUInt16(_remaining[6..]),
            NativeEndian.ReadUInt32(_remaining[8..]),
            NativeEndian.ReadUInt32(_remaining[12..]),
            _remaining[Rtnl.HeaderLength..(int)length]);
        int next = NetlinkWriter.Align((int)length);
        _remaining = next >= _remaining.Length ? default : _remaining[next..];
        return true;
    }
}

/// <summary>Walks a run of attributes (NLA_OK / nla_next), checking every length.</summary>
internal ref struct AttributeReader
{
    private ReadOnlySpan<byte> _remaining;

    public AttributeReader(ReadOnlySpan<byte> attributes) => _remaining = attributes;

    /// <summary>The next attribute; its type has NLA_F_NESTED and NLA_F_NET_BYTEORDER masked off.</summary>
    public bool TryRead(out ushort type, out ReadOnlySpan<byte> value)
    {
        type = 0;
        value = default;
        // The kernel may leave fewer than 4 bytes of padding at the end (nla_ok), which is not an error.
        if (_remaining.Length < Rtnl.AttributeHeaderLength) return false;
        ushort length = NativeEndian.ReadUInt16(_remaining);
        if (length < Rtnl.AttributeHeaderLength || length > _remaining.Length)
            throw Malformed.Error($"attribute length {length} with {_remaining.Length} bytes left");
        type = (ushort)(NativeEndian.ReadUInt16(_remaining[2..]) & Rtnl.NLA_TYPE_MASK);
        value = _remaining[Rtnl.AttributeHeaderLength..length];
        int next = NetlinkWriter.Align(length);
        _remaining = next >= _remaining.Length ? default : _remaining[next..];
        return true;
    }
}

/// <summary>Checked readers of attribute values and fixed headers: short input is EPROTO.</summary>
internal static class Malformed
{
    public static NetlinkException Error(string what) => new(Errno.EPROTO, "malformed netlink message: " + what);

    public static ReadOnlySpan<byte> Require(ReadOnlySpan<byte> span, int length, string what) =>
        span.Length >= length ? span : throw Error($"{what} needs {length} bytes, has {span.Length}");

    public static byte U8(ReadOnlySpan<byte> value, string what) => Require(value, 1, what)[0];

    public static ushort U16(ReadOnlySpan<byte> value, string what) => NativeEndian.ReadUInt16(Require(value, 2, what));

    public static ushort Be16(ReadOnlySpan<byte> value, string what) => BinaryPrimitives.ReadUInt16BigEndian(Require(value, 2, what));

    public static uint U32(ReadOnlySpan<byte> value, string what) => NativeEndian.ReadUInt32(Require(value, 4, what));

    public static int I32(ReadOnlySpan<byte> value, string what) => NativeEndian.ReadInt32(Require(value, 4, what));

    /// <summary>A string attribute: up to the first NUL (or the whole value if there is none).</summary>
    public static string String(ReadOnlySpan<byte> value)
    {
        int nul = value.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul < 0 ? value : value[..nul]);
    }

    public static IPAddress Address(ReadOnlySpan<byte> value, string what) =>
        value.Length is 4 or 16 ? new IPAddress(value) : throw Error($"{what} is {value.Length} bytes, not an IPv4 or IPv6 address");

    public static PhysicalAddress Mac(ReadOnlySpan<byte> value) => new(value.ToArray());

    /// <summary>
    /// An address attribute and the prefix length from the family header (RTA_DST with
    /// rtm_dst_len, FRA_SRC with src_len, ...): null without an address; EPROTO when the address
    /// is not of the message's family or the length is too long for it.
    /// </summary>
    public static IpPrefix? Prefix(IPAddress? address, int length, AddressFamily family, string what)
    {
        if (address is null) return null;
        if (address.AddressFamily != family || length > IpPrefix.MaxLength(family))
            throw Error($"{what} {address}/{length} in a {family} message");
        return new IpPrefix(address, length);
    }
}
