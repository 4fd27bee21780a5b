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
/// the agent was down — but only once every mode has said which it needs, so that the first mode to
/// reconcile after a start never takes out the other's.
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
            var others = _wanted.Count(w => w.Key != mode) < modes - 1
                ? null
                : _wanted.Where(w => w.Key != mode).SelectMany(w => w.Value).ToHashSet();
            _wanted[mode] = HostGwRoutes.PinNeighbours(host, fabricIndex, peers, others);
        }
    }
}
