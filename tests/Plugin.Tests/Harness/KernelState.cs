using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Harness;

/// <summary>One link as iproute2 reports it, reduced to what a CNI plugin is responsible for.</summary>
internal sealed record LinkState(string Name, string Mac, int Mtu, bool Up, string? Alias, string Addresses)
{
    public override string ToString() => $"{Name} mac={Mac} mtu={Mtu} up={Up} alias={Alias ?? "-"} addrs=[{Addresses}]";
}

/// <summary>
/// The state of one namespace read with iproute2 (independent of the code under test): links
/// except loopback, their global addresses, and the main-table IPv4 routes. Two snapshots
/// compare field by field with record equality.
/// </summary>
internal sealed record KernelState(IReadOnlyList<LinkState> Links, IReadOnlyList<string> Routes)
{
    public static KernelState Read(string netns)
    {
        var links = new List<LinkState>();
        foreach (var node in JsonNode.Parse(Shell.IpIn(netns, "-j", "-d", "addr", "show"))!.AsArray())
        {
            var link = node!.AsObject();
            if ((string?)link["link_type"] == "loopback") continue;
            var flags = link["flags"]!.AsArray().Select(f => (string)f!).ToArray();
            var addresses = link["addr_info"]!.AsArray()
                .Select(a => a!.AsObject())
                .Where(a => (string?)a["scope"] == "global")
                .Select(a => $"{a["local"]}/{a["prefixlen"]}")
                .Order(StringComparer.Ordinal);
            links.Add(new LinkState(
                (string)link["ifname"]!,
                (string)link["address"]!,
                (int)link["mtu"]!,
                flags.Contains("UP"),
                (string?)link["ifalias"],
                string.Join(',', addresses)));
        }
        var routes = JsonNode.Parse(Shell.IpIn(netns, "-j", "-4", "route", "show", "table", "main"))!.AsArray()
            .Select(r => r!.AsObject())
            .Select(r => $"{r["dst"]}{(r["gateway"] is { } gw ? " via " + gw : "")} dev {r["dev"]}")
            .Order(StringComparer.Ordinal)
            .ToArray();
        return new KernelState(links.OrderBy(l => l.Name, StringComparer.Ordinal).ToArray(), routes);
    }

    public LinkState? Link(string name) => Links.FirstOrDefault(l => l.Name == name);

    // Value equality over the lists (a record would compare the list references).
    public bool Equals(KernelState? other) =>
        other is not null && Links.SequenceEqual(other.Links) && Routes.SequenceEqual(other.Routes);

    public override int GetHashCode() => HashCode.Combine(Links.Count, Routes.Count);

    public override string ToString() =>
        string.Join("; ", Links.Select(l => l.ToString())) + " | routes: " + string.Join("; ", Routes);
}
