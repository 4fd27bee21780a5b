using Fathom.Agent.Protocol;
using Fathom.Cni;

namespace Fathom.Datapath.Overlay;

/// <summary>
/// <c>"mode": "overlay"</c> (DESIGN.md §3, issue 10): ADD asks <c>fathom-agent</c> for an address of
/// the node's leased pod subnet and wires it with a <see cref="NodeVeth"/> at the overlay's MTU (the
/// fabric's − 50, which the agent's allocation carries); the agent keeps the VXLAN device and every
/// remote subnet's onlink route, permanent neighbour and FDB entry (<see cref="VxlanOverlay"/>).
/// The plugin entry is the one both subnet modes share (<see cref="SubnetModeDatapath"/>): DEL only
/// releases, and ADD fails with 11 when the agent cannot vouch for its lease.
/// </summary>
public sealed class OverlayDatapath(SubnetModeConfig config) : SubnetModeDatapath(config, AllocationMode.Overlay)
{
    /// <summary>The mode's name in a network config's <c>mode</c>.</summary>
    public const string Mode = "overlay";

    /// <summary>The plugin table's entry.</summary>
    public static IDatapath FromConfig(NetworkConfig config) => new OverlayDatapath(SubnetModeConfig.Parse(config));
}
