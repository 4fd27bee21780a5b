using System.Net;
using System.Net.Sockets;
using Fathom.Netlink;

namespace Fathom.Datapath.HostGw;

/// <summary>What one reconcile changed: for metrics and logs.</summary>
public sealed record ReconcileOutcome(int Added, int Removed, int Kept);

/// <summary>
/// host-gw's routes (DESIGN.md §3, flannel's host-gw backend): every remote node's pod subnet is
/// routed via that node's IP — <c>10.244.2.0/24 via 10.0.0.12</c> — so pod traffic crosses the
/// fabric unencapsulated. Nodes must share an L2 segment (the next hop is on-link), as in flannel.
/// A reconcile makes the main table hold exactly the routes of the given peers, among the routes
/// Fathom installed (<see cref="FathomRoutes.Protocol"/>); a route deleted by hand comes back at
/// the next reconcile, a route of a node that left goes.
/// </summary>
public static class HostGwRoutes
{
    /// <summary>Makes the routes of <paramref name="peers"/> the only host-gw routes on the node.</summary>
    public static ReconcileOutcome Reconcile(NetlinkHandle host, IReadOnlyCollection<PeerSubnet> peers)
    {
        var present = Ours(host);
        int added = 0, kept = 0;
        foreach (var peer in peers)
        {
            var want = RouteOf(peer);
            if (present.Any(r => Matches(r, want)))
            {
                kept++;
                continue;
            }
            // Replace, not add: a route to the subnet with another next hop (the node moved) is corrected.
            KernelCall.Run($"route {peer.Subnet} via {peer.NodeIp}", () => host.ReplaceRoute(want));
            added++;
        }
        var removed = 0;
        foreach (var stale in present.Where(r => !peers.Any(p => Matches(r, RouteOf(p)))))
        {
            // A subnet whose next hop changed was replaced above: its old route is already gone.
            if (peers.Any(p => p.Subnet.Equals(stale.Destination))) continue;
            try
            {
                host.DeleteRoute(stale);
                removed++;
            }
            catch (NetlinkException e) when (e.IsNotFound)
            {
            }
        }
        return new ReconcileOutcome(added, removed, kept);
    }

    /// <summary>
    /// Pins each peer's node IP to its published fabric MAC (a permanent neighbour on
    /// <paramref name="fabricIndex"/>, marked <see cref="FathomRoutes.Protocol"/>). The next hop then
    /// never waits for, nor depends on, ARP: a cloud VPC's router — and the lab's — answers ARP for
    /// every address of the subnet with its own MAC, and a packet for a pod subnet sent to that router
    /// is dropped (it has no route to it). Every other marked pin on the device for which
    /// <paramref name="unpin"/> says yes goes: a peer that left, also while the agent was down, and not
    /// another mode's peer. Returns the pinned IPs.
    /// </summary>
    public static IReadOnlySet<IPAddress> PinNeighbours(NetlinkHandle host, int fabricIndex, IReadOnlyCollection<PeerSubnet> peers,
        Func<IPAddress, bool> unpin)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(unpin);
        var pinned = new HashSet<IPAddress>();
        foreach (var peer in peers.Where(p => p.NodeMac is not null))
        {
            KernelCall.Run($"pin the neighbour {peer.NodeIp} → {peer.NodeMac}", () => host.ReplaceNeighbor(new Neighbor
            {
                Index = fabricIndex,
                Ip = peer.NodeIp,
                Mac = peer.NodeMac,
                // Marked: the pins are found again after a restart, and once no subnet mode runs (RetiredModes).
                Protocol = FathomRoutes.Protocol,
            }));
            pinned.Add(peer.NodeIp);
        }
        foreach (var gone in Pins(host, fabricIndex).Where(n => !pinned.Contains(n.Ip) && unpin(n.Ip)))
        {
            try
            {
                host.DeleteNeighbor(gone);
            }
            catch (NetlinkException e) when (e.IsNotFound)
            {
            }
        }
        return pinned;
    }

    /// <summary>The neighbours Fathom pinned on <paramref name="fabricIndex"/> (null: on any device).</summary>
    public static IReadOnlyList<Neighbor> Pins(NetlinkHandle host, int? fabricIndex = null) =>
        KernelCall.Run("list the node's neighbours", () => host.ListNeighbors(AddressFamily.InterNetwork, fabricIndex))
            .Where(n => n.Protocol == FathomRoutes.Protocol && n.State.HasFlag(NeighborState.Permanent))
            .ToList();

    /// <summary>The host-gw routes Fathom installed on the node.</summary>
    public static IReadOnlyList<Route> Ours(NetlinkHandle host) =>
        KernelCall.Run("list the node's routes", () => host.ListRoutes(AddressFamily.InterNetwork))
            // Not overlay's: those are onlink through the VXLAN device, and a node may serve both modes.
            .Where(r => r.Protocol == FathomRoutes.Protocol && r.Table == RouteTables.Main && r.Gateway is not null && !r.OnLink)
            .ToList();

    private static Route RouteOf(PeerSubnet peer) => new()
    {
        Destination = peer.Subnet,
        Gateway = peer.NodeIp,
        Protocol = FathomRoutes.Protocol,
    };

    private static bool Matches(Route have, Route want) =>
        Equals(have.Destination, want.Destination) && Equals(have.Gateway, want.Gateway);
}
