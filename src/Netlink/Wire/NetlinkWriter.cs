using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;

namespace Fathom.Netlink.Wire;

/// <summary>
/// Builds one netlink message in a caller-owned buffer (the handle's pooled send buffer), in the
/// shape of Tmds.DBus.Protocol's writer: <see cref="GetSpan"/>/<see cref="Advance"/>, 4-byte
/// NLA alignment (NLA_ALIGNTO, include/uapi/linux/netlink.h), and lengths of the message and of
/// nested attributes filled in afterwards. Sequence and port id are left zero: the socket stamps
/// them when it sends, so tests compare bytes with those fields zeroed.
/// </summary>
internal ref struct NetlinkWriter
{
    private readonly Span<byte> _buffer;
    private int _length;

    public NetlinkWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _length = 0;
    }

    /// <summary>The bytes written so far.</summary>
    public readonly ReadOnlySpan<byte> Written => _buffer[.._length];

    public readonly int Length => _length;

    /// <summary>A span of at least <paramref name="size"/> zeroed bytes at the write position.</summary>
    public readonly Span<byte> GetSpan(int size)
    {
        if (size < 0 || size > _buffer.Length - _length)
            throw new NetlinkException(Errno.EMSGSIZE, $"netlink request larger than the {_buffer.Length}-byte send buffer");
        var span = _buffer.Slice(_length, size);
        span.Clear();
        return span;
    }

    public void Advance(int count) => _length += count;

    /// <summary>Starts the message: a struct nlmsghdr whose length <see cref="EndMessage"/> fills in.</summary>
    public void BeginMessage(ushort type, ushort flags)
    {
        var header = GetSpan(Rtnl.HeaderLength);
        NativeEndian.WriteUInt16(header[4..], type);
        NativeEndian.WriteUInt16(header[6..], (ushort)(flags | Rtnl.NLM_F_REQUEST));
        Advance(Rtnl.HeaderLength);
    }

    /// <summary>Fills nlmsg_len; the message is then <see cref="Written"/>.</summary>
    public readonly void EndMessage() => NativeEndian.WriteUInt32(_buffer, (uint)_length);

    /// <summary>Writes the fixed family header (ifinfomsg, rtmsg, ...): reserves it zeroed, the caller fills fields.</summary>
    public Span<byte> Reserve(int size)
    {
        var span = GetSpan(Align(size));
        Advance(Align(size));
        return span[..size];
    }

    public void PutBytes(ushort type, scoped ReadOnlySpan<byte> value)
    {
        var span = GetSpan(Align(Rtnl.AttributeHeaderLength + value.Length));
        NativeEndian.WriteUInt16(span, (ushort)(Rtnl.AttributeHeaderLength + value.Length));
        NativeEndian.WriteUInt16(span[2..], type);
        value.CopyTo(span[Rtnl.AttributeHeaderLength..]);
        Advance(span.Length);
    }

    public void PutU8(ushort type, byte value) => PutBytes(type, [value]);

    public void PutU16(ushort type, ushort value)
    {
        Span<byte> bytes = stackalloc byte[2];
        NativeEndian.WriteUInt16(bytes, value);
        PutBytes(type, bytes);
    }

    /// <summary>A 16-bit value in network byte order (ports, e.g. IFLA_VXLAN_PORT).</summary>
    public void PutBe16(ushort type, ushort value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, value);
        PutBytes(type, bytes);
    }

    public void PutU32(ushort type, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        NativeEndian.WriteUInt32(bytes, value);
        PutBytes(type, bytes);
    }

    public void PutI32(ushort type, int value) => PutU32(type, (uint)value);

    /// <summary>A NUL-terminated string, its length counting the NUL (iproute2 addattr_l(..., strlen + 1)).</summary>
    public void PutString(ushort type, string value)
    {
        int byteCount = Encoding.UTF8.GetByteCount(value);
        var span = GetSpan(Align(Rtnl.AttributeHeaderLength + byteCount + 1));
        NativeEndian.WriteUInt16(span, (ushort)(Rtnl.AttributeHeaderLength + byteCount + 1));
        NativeEndian.WriteUInt16(span[2..], type);
        Encoding.UTF8.GetBytes(value, span[Rtnl.AttributeHeaderLength..]);
        Advance(span.Length);
    }

    /// <summary>
    /// A string without terminator (iproute2 addattr_l(..., strlen)), as for IFLA_INFO_KIND and
    /// IFLA_IFALIAS; the kernel copies such attributes by length (nla_strscpy).
    /// </summary>
    public void PutUnterminatedString(ushort type, string value)
    {
        int byteCount = Encoding.UTF8.GetByteCount(value);
        var span = GetSpan(Align(Rtnl.AttributeHeaderLength + byteCount));
        NativeEndian.WriteUInt16(span, (ushort)(Rtnl.AttributeHeaderLength + byteCount));
        NativeEndian.WriteUInt16(span[2..], type);
        Encoding.UTF8.GetBytes(value, span[Rtnl.AttributeHeaderLength..]);
        Advance(span.Length);
    }

    public void PutAddress(ushort type, IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out int written);
        PutBytes(type, bytes[..written]);
    }

    public void PutMac(ushort type, PhysicalAddress mac)
    {
        // PhysicalAddress only hands out a copy; MACs are 6 bytes and this is not a hot path.
        PutBytes(type, mac.GetAddressBytes());
    }

    /// <summary>Opens a nested attribute; pass the result to <see cref="EndNested"/>.</summary>
    public int BeginNested(ushort type)
    {
        int start = _length;
        var span = GetSpan(Rtnl.AttributeHeaderLength);
        NativeEndian.WriteUInt16(span[2..], type);
        Advance(Rtnl.AttributeHeaderLength);
        return start;
    }

    public readonly void EndNested(int start) =>
        NativeEndian.WriteUInt16(_buffer[start..], (ushort)(_length - start));

    public static int Align(int length) => (length + 3) & ~3;
}
