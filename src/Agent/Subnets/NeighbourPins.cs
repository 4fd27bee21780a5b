using System.Net;
using Fathom.Agent.Protocol;
using Fathom.Datapath;
using Fathom.Datapath.HostGw;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// The node's pinned neighbours (<see cref="HostGwRoutes.PinNeighbours"/>), shared by its subnet modes:
/// host-gw and overlay both pin their peers' node IPs on the fabric device, often the same ones. A pin
/// goes when no mode has a peer at that IP any more — including pins left by a peer that went while
/// the agent was down, once every mode has said which it needs (the first mode to reconcile after a
/// start never takes out the other's). Until then a mode unpins only the peers it pinned itself and
/// lost since.
/// </summary>
/// <param name="modes">How many modes share the node's pins.</param>
public sealed class NeighbourPins(int modes)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<AllocationMode, IReadOnlySet<IPAddress>> _wanted = [];

    /// <summary>Pins <paramref name="mode"/>'s peers and unpins what no mode needs.</summary>
    public void Reconcile(NetlinkHandle host, int fabricIndex, AllocationMode mode, IReadOnlyCollection<PeerSubnet> peers)
    {
        lock (_lock)
        {
            var others = _wanted.Where(w => w.Key != mode).SelectMany(w => w.Value).ToHashSet();
            var before = _wanted.GetValueOrDefault(mode) ?? new HashSet<IPAddress>();
            var everyModeSaid = _wanted.Count(w => w.Key != mode) >= modes - 1;
            _wanted[mode] = HostGwRoutes.PinNeighbours(host, fabricIndex, peers,
                ip => !others.Contains(ip) && (everyModeSaid || before.Contains(ip)));
        }
    }
}
