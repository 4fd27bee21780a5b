using System.Diagnostics.CodeAnalysis;
using System.IO.Enumeration;
using System.Net.NetworkInformation;
using Fathom.Netlink;

namespace Fathom.Cloud.Host;

/// <summary>Which of the node's links are host NICs to pool, as <see cref="HostNicConfig"/> selects them.</summary>
public sealed class NicSelector
{
    private readonly HashSet<string>? _names;
    private readonly HashSet<PhysicalAddress>? _macs;
    private readonly string? _pattern;

    /// <summary>The selector of a valid config.</summary>
    public NicSelector(HostNicConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Names is { Count: > 0 } names) _names = new HashSet<string>(names, StringComparer.Ordinal);
        else if (config.Macs is { Count: > 0 } macs) _macs = [.. macs.Select(ParseMac)];
        else _pattern = config.Pattern;
    }

    /// <summary>How many NICs it can ever select: the names or MACs listed, or null for a pattern (any number).</summary>
    public int? Count => _names?.Count ?? _macs?.Count;

    /// <summary>
    /// Whether <paramref name="link"/> is one of the NICs. Only a device with no link kind (a NIC,
    /// an SR-IOV VF) or a veth (what stands for a hot-added NIC in the lab and the tests) can be:
    /// bridges, VXLAN devices and the like never are, whatever their name; nor is loopback.
    /// </summary>
    public bool Matches(Link link)
    {
        ArgumentNullException.ThrowIfNull(link);
        if (link.Kind is not (null or "veth") || link.Mac is not { } mac || link.Name == "lo" || IsZero(mac))
            return false;
        if (_names is not null) return _names.Contains(link.Name);
        if (_macs is not null) return _macs.Contains(mac);
        return FileSystemName.MatchesSimpleExpression(_pattern, link.Name, ignoreCase: false);
    }

    /// <summary>A Linux interface name: 1–15 bytes, none of '/', ':' or white space (net/core/dev.c dev_valid_name).</summary>
    public static bool IsValidName(string name) =>
        name is { Length: > 0 and <= 15 } && name is not ("." or "..") && !name.Any(c => c is '/' or ':' || char.IsWhiteSpace(c) || c > 0x7e);

    /// <summary>A glob of interface names: a name's characters plus '*' and '?'.</summary>
    public static bool IsValidPattern(string pattern) =>
        pattern.Length <= 15 && IsValidName(pattern) && !pattern.Any(c => c is '[' or ']' or '\\');

    /// <summary>Parses <c>aa:bb:cc:dd:ee:ff</c> (or with '-').</summary>
    public static bool TryParseMac(string text, [NotNullWhen(true)] out PhysicalAddress? mac)
    {
        mac = null;
        if (text is not { Length: 17 }) return false;
        return PhysicalAddress.TryParse(text.ToUpperInvariant(), out mac) && mac.GetAddressBytes().Length == 6;
    }

    /// <summary>Parses a MAC that <see cref="TryParseMac"/> accepts.</summary>
    public static PhysicalAddress ParseMac(string text) =>
        TryParseMac(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address");

    /// <summary>The lower-case colon form, as the agent's state and status show MACs.</summary>
    public static string Format(PhysicalAddress mac) =>
        string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    private static bool IsZero(PhysicalAddress mac) => mac.GetAddressBytes().All(b => b == 0);
}
