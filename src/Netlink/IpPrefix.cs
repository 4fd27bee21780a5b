using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Fathom.Netlink;

/// <summary>
/// An IPv4 or IPv6 address with a prefix length, as <c>ip</c> writes it (<c>10.0.0.5/24</c>).
/// Host bits are kept: an interface address is a prefix whose host bits matter. Use
/// <see cref="Network"/> for the masked form a route destination needs.
/// </summary>
/// <remarks>
/// Formatted without .NET's interpolated-string handler (<see cref="TryFormat"/>, and
/// <see cref="ToString()"/> by concatenation): a prefix is a hole in many messages, and a handler
/// inside another one rents a second buffer from <c>ArrayPool&lt;char&gt;.Shared</c> while the first
/// is out, whose return then needs the processor id — the first use of which, in a process, runs
/// .NET's calibration of <c>sched_getcpu</c> (≈ 0.1 ms of a plugin ADD here; docs/benchmarks.md).
/// </remarks>
public readonly record struct IpPrefix : ISpanFormattable
{
    /// <summary>Creates a prefix; <paramref name="PrefixLength"/> must fit the address family.</summary>
    /// <exception cref="NetlinkException">EINVAL when the length is out of range or the family is neither v4 nor v6.</exception>
    public IpPrefix(IPAddress Address, int PrefixLength)
    {
        ArgumentNullException.ThrowIfNull(Address);
        int max = MaxLength(Address.AddressFamily);
        if (max < 0)
            throw new NetlinkException(Errno.EINVAL, $"{Address} is neither IPv4 nor IPv6");
        if ((uint)PrefixLength > (uint)max)
            throw new NetlinkException(Errno.EINVAL, $"prefix length {PrefixLength} is out of range for {Address}");
        this.Address = Address;
        this.PrefixLength = PrefixLength;
    }

    /// <summary>The address, host bits included.</summary>
    public IPAddress Address { get; }

    /// <summary>The number of leading network bits (0–32 for IPv4, 0–128 for IPv6).</summary>
    public int PrefixLength { get; }

    /// <summary><see cref="AddressFamily.InterNetwork"/> or <see cref="AddressFamily.InterNetworkV6"/>.</summary>
    public AddressFamily Family => Address.AddressFamily;

    /// <summary>The prefix with its host bits cleared (10.0.0.5/24 → 10.0.0.0/24).</summary>
    public IpPrefix Network
    {
        get
        {
            Span<byte> bytes = stackalloc byte[16];
            Address.TryWriteBytes(bytes, out int length);
            bytes = bytes[..length];
            for (int bit = PrefixLength; bit < length * 8; bit++)
                bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
            return new IpPrefix(new IPAddress(bytes), PrefixLength);
        }
    }

    /// <summary>A host prefix: /32 for IPv4, /128 for IPv6.</summary>
    public static IpPrefix Host(IPAddress address) => new(address, MaxLength(address.AddressFamily));

    /// <summary>Parses <c>ADDRESS/LENGTH</c>, or a bare address as a host prefix.</summary>
    /// <exception cref="NetlinkException">EINVAL when <paramref name="text"/> is not a prefix.</exception>
    public static IpPrefix Parse(string text) =>
        TryParse(text, out var prefix) ? prefix : throw new NetlinkException(Errno.EINVAL, $"'{text}' is not an IP prefix");

    /// <summary>Parses <c>ADDRESS/LENGTH</c>, or a bare address as a host prefix.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out IpPrefix prefix)
    {
        prefix = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var span = text.AsSpan().Trim();
        int slash = span.IndexOf('/');
        var addressPart = slash < 0 ? span : span[..slash];
        // A zone ("fe80::1%eth0") has no place in a netlink address and would be dropped.
        if (addressPart.Contains('%') || !IPAddress.TryParse(addressPart, out var address)) return false;
        if (address.AddressFamily == AddressFamily.InterNetwork && !IsDottedQuad(addressPart)) return false;
        int max = MaxLength(address.AddressFamily);
        if (max < 0) return false;
        int length = max;
        if (slash >= 0 && (!int.TryParse(span[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out length) || length > max))
            return false;
        prefix = new IpPrefix(address, length);
        return true;
    }

    /// <summary>
    /// Four decimal parts without leading zeros, as Go's net.ParseCIDR reads IPv4 (and so the
    /// CNI reference plugins and iproute2's users expect). IPAddress.TryParse also takes
    /// inet_aton's forms, in which "10.244" is 10.0.0.244 and "010.0.0.1" is 8.0.0.1: a config
    /// that meant 10.244.0.0/16 or 10.0.0.1 would silently get another network.
    /// </summary>
    private static bool IsDottedQuad(ReadOnlySpan<char> text)
    {
        int parts = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0')) return false;
            foreach (char c in part)
                if (!char.IsAsciiDigit(c)) return false;
            parts++;
        }
        return parts == 4;
    }

    /// <inheritdoc/>
    public override string ToString() =>
        Address is null ? "" : string.Concat(Address.ToString(), "/", PrefixLength.ToString(CultureInfo.InvariantCulture));

    /// <inheritdoc/>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToString();

    /// <summary>Writes <c>address/length</c>, as <see cref="ToString()"/> does, into <paramref name="destination"/>.</summary>
    public bool TryFormat(Span<char> destination, out int charsWritten, ReadOnlySpan<char> format, IFormatProvider? provider)
    {
        charsWritten = 0;
        if (Address is null) return true;
        if (!Address.TryFormat(destination, out int address) || address >= destination.Length) return false;
        destination[address] = '/';
        if (!PrefixLength.TryFormat(destination[(address + 1)..], out int length, default, CultureInfo.InvariantCulture)) return false;
        charsWritten = address + 1 + length;
        return true;
    }

    internal static int MaxLength(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => 32,
        AddressFamily.InterNetworkV6 => 128,
        _ => -1,
    };
}
