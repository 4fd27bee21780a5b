using System.Net;
using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// A CNI result in the 1.1 model (CNI spec 1.1 §"Success"): interfaces, IPs, routes and DNS.
/// It is version-neutral in memory; <see cref="CniResultJson"/> reads any version (0.1.0–1.1.0)
/// into it and writes it in the shape of the version the runtime asked for.
/// </summary>
public sealed class CniResult
{
    /// <summary>The version this result was read in, or will be written in.</summary>
    public string CniVersion { get; set; } = Fathom.Cni.CniVersion.Latest;

    /// <summary>Interfaces created or configured (host side and sandbox side).</summary>
    public List<CniInterface> Interfaces { get; init; } = [];

    /// <summary>Addresses, each pointing into <see cref="Interfaces"/> by index.</summary>
    public List<CniIpConfig> Ips { get; init; } = [];

    /// <summary>Routes set up in the sandbox.</summary>
    public List<CniRoute> Routes { get; init; } = [];

    /// <summary>DNS settings, or null when none were given.</summary>
    public CniDns? Dns { get; set; }

    /// <summary>A deep-enough copy (the records are immutable; the lists are new).</summary>
    public CniResult Clone() => new()
    {
        CniVersion = CniVersion,
        Interfaces = [.. Interfaces],
        Ips = [.. Ips],
        Routes = [.. Routes],
        Dns = Dns,
    };
}

/// <summary>An interface in a result (CNI spec 1.1 §"interfaces"). The last three fields are new in 1.1.0.</summary>
/// <param name="Name">The interface's name (in its sandbox, if it has one).</param>
/// <param name="Mac">Its hardware address, when L2 addresses are meaningful.</param>
/// <param name="Mtu">Its MTU (1.1.0).</param>
/// <param name="Sandbox">The netns path of a container interface; null for a host interface.</param>
/// <param name="SocketPath">A vhost-user/socket path (1.1.0).</param>
/// <param name="PciId">The PCI address of an SR-IOV/hardware device (1.1.0).</param>
public sealed record CniInterface(
    string Name,
    string? Mac = null,
    int? Mtu = null,
    string? Sandbox = null,
    string? SocketPath = null,
    string? PciId = null);

/// <summary>An IP configuration in a result (CNI spec 1.1 §"ips").</summary>
/// <param name="Address">The address with its prefix length (host bits set: 10.0.0.5/24).</param>
/// <param name="Gateway">The default gateway for this subnet, if any.</param>
/// <param name="Interface">Index into the result's interfaces; null from IPAM plugins, which know no interfaces.</param>
public sealed record CniIpConfig(IpPrefix Address, IPAddress? Gateway = null, int? Interface = null);

/// <summary>A route in a result (CNI spec 1.1 §"routes"). Mtu, AdvMss, Priority, Table and Scope are new in 1.1.0.</summary>
/// <param name="Destination">The destination prefix (0.0.0.0/0 for a default route).</param>
/// <param name="Gateway">The next hop; null means the plugin's default gateway.</param>
/// <param name="Mtu">Path MTU of the route.</param>
/// <param name="AdvMss">Advertised TCP MSS.</param>
/// <param name="Priority">The route's metric.</param>
/// <param name="Table">The routing table (default main).</param>
/// <param name="Scope">The route scope (RT_SCOPE_*, e.g. 0 universe, 253 link).</param>
public sealed record CniRoute(
    IpPrefix Destination,
    IPAddress? Gateway = null,
    int? Mtu = null,
    int? AdvMss = null,
    int? Priority = null,
    int? Table = null,
    int? Scope = null);

/// <summary>DNS settings (CNI spec 1.1 §"dns"): all parts optional.</summary>
public sealed record CniDns
{
    /// <summary>Name servers, in priority order.</summary>
    public IReadOnlyList<string> Nameservers { get; init; } = [];

    /// <summary>The local domain used for short hostname lookups.</summary>
    public string? Domain { get; init; }

    /// <summary>Search domains, in priority order.</summary>
    public IReadOnlyList<string> Search { get; init; } = [];

    /// <summary>Resolver options.</summary>
    public IReadOnlyList<string> Options { get; init; } = [];

    /// <summary>True when nothing is set (then the field is left out of results).</summary>
    public bool IsEmpty => Nameservers.Count == 0 && Domain is null && Search.Count == 0 && Options.Count == 0;
}
