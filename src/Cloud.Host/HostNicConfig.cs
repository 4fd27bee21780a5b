using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Fathom.Cloud.Host;

/// <summary>
/// <c>cloud.host</c> in agent.json (provider <c>host</c>): which of the node's NICs the agent
/// pools — exactly one selector of <see cref="Names"/>, <see cref="Macs"/> or <see cref="Pattern"/>
/// — and how each is addressed: a static address from <see cref="Nics"/>, or DHCP.
/// </summary>
public sealed record HostNicConfig
{
    /// <summary>The NICs by name (<c>eth1</c>, <c>ens224</c>).</summary>
    public IReadOnlyList<string>? Names { get; set; }

    /// <summary>The NICs by MAC (<c>02:00:0a:01:00:0b</c>): stable across renames (udev, a reboot).</summary>
    public IReadOnlyList<string>? Macs { get; set; }

    /// <summary>The NICs whose name matches a glob (<c>*</c>, <c>?</c>), e.g. <c>ens1f0v*</c> for SR-IOV VFs; also those hot-added later.</summary>
    public string? Pattern { get; set; }

    /// <summary>Per-NIC addressing, each by <see cref="HostNicAddressing.Name"/> or <see cref="HostNicAddressing.Mac"/>.</summary>
    public IReadOnlyList<HostNicAddressing> Nics { get; set; } = [];

    /// <summary>
    /// What a selected NIC not listed in <see cref="Nics"/> gets: <c>dhcp</c>, or null (the default)
    /// for nothing — such a NIC is not used, and the agent says so once.
    /// </summary>
    public string? DefaultAddress { get; set; }

    /// <summary>How long one DHCP exchange may take before the NIC is given up for now.</summary>
    public double DhcpTimeoutSeconds { get; set; } = 10;

    /// <summary>The addressing of a selected NIC, or null when it has none (not used).</summary>
    public HostNicAddressing? AddressingOf(string name, PhysicalAddress mac) =>
        Nics.FirstOrDefault(n => n.Name == name) ?? Nics.FirstOrDefault(n => n.Mac is { } m && NicSelector.ParseMac(m).Equals(mac))
        ?? (DefaultAddress == HostNicAddressing.Dhcp ? new HostNicAddressing { Name = name, Address = HostNicAddressing.Dhcp } : null);

    /// <summary>The error in the config, naming the field, or null when it can be used.</summary>
    public string? Validate()
    {
        var selectors = (Names is { Count: > 0 } ? 1 : 0) + (Macs is { Count: > 0 } ? 1 : 0) + (string.IsNullOrEmpty(Pattern) ? 0 : 1);
        if (selectors == 0)
            return "cloud.host has no selector: set one of names, macs or pattern to say which NICs the agent may hand out";
        if (selectors > 1)
            return "cloud.host has more than one selector: set exactly one of names, macs or pattern";
        foreach (var name in Names ?? [])
            if (!NicSelector.IsValidName(name))
                return $"cloud.host.names has '{name}', not an interface name (1–15 characters, no '/', ':' or spaces)";
        foreach (var mac in Macs ?? [])
            if (!NicSelector.TryParseMac(mac, out _))
                return $"cloud.host.macs has '{mac}', not a MAC address (aa:bb:cc:dd:ee:ff)";
        if (Pattern is { Length: > 0 } pattern && !NicSelector.IsValidPattern(pattern))
            return $"cloud.host.pattern '{pattern}' is not an interface-name glob (up to 15 characters of a name, '*' and '?')";
        if (DefaultAddress is not (null or HostNicAddressing.Dhcp))
            return $"cloud.host.defaultAddress '{DefaultAddress}' is not dhcp (leave it out to use only the NICs listed in nics)";
        if (!double.IsFinite(DhcpTimeoutSeconds) || DhcpTimeoutSeconds is < 1 or > 60)
            return $"cloud.host.dhcpTimeoutSeconds {DhcpTimeoutSeconds} is outside 1..60";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Nics.Count; i++)
        {
            if (Nics[i].Validate($"cloud.host.nics[{i}]") is { } error)
                return error;
            foreach (var address in Nics[i].Addresses())
                if (!seen.Add(address.ToString()))
                    return $"cloud.host.nics[{i}]: address {address} is given twice";
        }
        // A NIC the selector names but the config cannot address could never be used: say so now, not at the first ADD.
        // (A NIC selected by name may be addressed by its MAC and the other way round: only the kernel knows which is which.)
        if (DefaultAddress is null)
        {
            foreach (var name in Names ?? [])
                if (!Nics.Any(n => n.Name == name || n.Mac is not null))
                    return $"cloud.host.names has '{name}' but cloud.host.nics gives it no address (add it to nics, or set defaultAddress dhcp)";
            foreach (var mac in Macs ?? [])
                if (!Nics.Any(n => n.Name is not null || (n.Mac is { } m && NicSelector.ParseMac(m).Equals(NicSelector.ParseMac(mac)))))
                    return $"cloud.host.macs has '{mac}' but cloud.host.nics gives it no address (add it to nics, or set defaultAddress dhcp)";
        }
        return null;
    }
}

/// <summary>How one host NIC is addressed: <c>{"name":"eth1","address":"10.1.0.11/24","gateway":"10.1.0.1"}</c> or <c>{"mac":"…","address":"dhcp"}</c>.</summary>
public sealed record HostNicAddressing
{
    /// <summary>The value of <see cref="Address"/> that asks a DHCP server.</summary>
    public const string Dhcp = "dhcp";

    /// <summary>The NIC's name (one of name and mac).</summary>
    public string? Name { get; set; }

    /// <summary>The NIC's MAC (one of name and mac).</summary>
    public string? Mac { get; set; }

    /// <summary>The address an underlay pod gets with this NIC, with its prefix (<c>10.1.0.11/24</c>), or <c>dhcp</c>.</summary>
    public string Address { get; set; } = "";

    /// <summary>The subnet's router; null: the first host of the subnet (as clouds put it).</summary>
    public string? Gateway { get; set; }

    /// <summary>Further addresses of the same subnet routed to this NIC, for shared pods (static addressing only).</summary>
    public IReadOnlyList<string> SecondaryAddresses { get; set; } = [];

    /// <summary>Whether the address comes from DHCP.</summary>
    public bool IsDhcp => Address == Dhcp;

    /// <summary>The static address with its subnet (valid config only).</summary>
    public (IPAddress Address, IPNetwork Subnet, IPAddress Gateway) Static()
    {
        var slash = Address.IndexOf('/', StringComparison.Ordinal);
        var address = IPAddress.Parse(Address.AsSpan(0, slash));
        var subnet = new IPNetwork(address, int.Parse(Address.AsSpan(slash + 1), System.Globalization.CultureInfo.InvariantCulture));
        subnet = IPNetwork.Parse($"{Mask(address, subnet.PrefixLength)}/{subnet.PrefixLength}");
        return (address, subnet, Gateway is { } g ? IPAddress.Parse(g) : SubnetInfo.GatewayOf(subnet));
    }

    internal IEnumerable<IPAddress> Addresses()
    {
        if (IsDhcp) yield break;
        yield return Static().Address;
        foreach (var s in SecondaryAddresses) yield return IPAddress.Parse(s);
    }

    internal string? Validate(string field)
    {
        if ((Name is null) == (Mac is null))
            return $"{field}: give exactly one of name and mac";
        if (Name is not null && !NicSelector.IsValidName(Name))
            return $"{field}.name '{Name}' is not an interface name";
        if (Mac is not null && !NicSelector.TryParseMac(Mac, out _))
            return $"{field}.mac '{Mac}' is not a MAC address (aa:bb:cc:dd:ee:ff)";
        if (IsDhcp)
            return Gateway is not null || SecondaryAddresses.Count > 0
                ? $"{field}: gateway and secondaryAddresses come with a static address, not with dhcp"
                : null;
        if (!TryParseCidr(Address, out var address, out var prefix))
            return $"{field}.address '{Address}' is not an IPv4 address with its prefix length (10.1.0.11/24) or dhcp";
        if (prefix > 30)
            return $"{field}.address '{Address}': a /{prefix} leaves no room for a gateway";
        var subnet = new IPNetwork(Mask(address, prefix), prefix);
        IPAddress? gateway = null;
        if (Gateway is not null && (!IPAddress.TryParse(Gateway, out gateway) || gateway.AddressFamily != AddressFamily.InterNetwork || !subnet.Contains(gateway)))
            return $"{field}.gateway '{Gateway}' is not an IPv4 address inside {subnet}";
        gateway ??= SubnetInfo.GatewayOf(subnet);
        if (address.Equals(gateway) || address.Equals(subnet.BaseAddress))
            return $"{field}.address {address} is the subnet's {(address.Equals(gateway) ? "gateway" : "network address")}";
        foreach (var text in SecondaryAddresses)
            if (!IPAddress.TryParse(text, out var ip) || ip.AddressFamily != AddressFamily.InterNetwork || !subnet.Contains(ip) || ip.Equals(gateway)
                || ip.Equals(subnet.BaseAddress))
                return $"{field}.secondaryAddresses has '{text}', not a host address of {subnet} other than the gateway";
        return null;
    }

    private static bool TryParseCidr(string text, out IPAddress address, out int prefix)
    {
        address = IPAddress.None;
        prefix = 0;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        return slash > 0
               && IPAddress.TryParse(text.AsSpan(0, slash), out address!) && address.AddressFamily == AddressFamily.InterNetwork
               && int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out prefix)
               && prefix is >= 1 and <= 32;
    }

    private static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        var value = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
        value &= prefix == 0 ? 0 : uint.MaxValue << (32 - prefix);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }
}
