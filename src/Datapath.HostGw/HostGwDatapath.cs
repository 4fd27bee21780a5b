using Fathom.Agent.Protocol;
using Fathom.Cni;

namespace Fathom.Datapath.HostGw;

/// <summary>
/// <c>"mode": "host-gw"</c> (DESIGN.md §3, issue 10): ADD asks <c>fathom-agent</c> for an address of
/// the node's leased pod subnet and wires it with a <see cref="NodeVeth"/> (a /32 behind the link-local
/// gateway, no bridge); the agent keeps every remote subnet routed via its node (<see cref="HostGwRoutes"/>).
/// The plugin entry is the one both subnet modes share (<see cref="SubnetModeDatapath"/>): DEL only
/// releases, and ADD fails with 11 when the agent cannot vouch for its lease.
/// </summary>
public sealed class HostGwDatapath(SubnetModeConfig config) : SubnetModeDatapath(config, AllocationMode.HostGw)
{
    /// <summary>The mode's name in a network config's <c>mode</c>.</summary>
    public const string Mode = "host-gw";

    /// <summary>The plugin table's entry.</summary>
    public static IDatapath FromConfig(NetworkConfig config) => new HostGwDatapath(SubnetModeConfig.Parse(config));
}
