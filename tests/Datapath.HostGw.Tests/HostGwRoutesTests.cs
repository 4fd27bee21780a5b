using System.Net;
using Fathom.Netlink;

namespace Fathom.Datapath.HostGw.Tests;

/// <summary>
/// host-gw on the real kernel: two nodes on one fabric, a pod on each wired by
/// <see cref="NodeVeth"/> with an address of its node's subnet, the routes programmed by
/// <see cref="HostGwRoutes"/>. Pod↔pod works exactly while the routes are there.
/// </summary>
public sealed class HostGwRoutesTests
{
    private static readonly string[] Subnets = ["10.244.1.0/24", "10.244.2.0/24"];
    private static readonly string[] PodIps = ["10.244.1.5", "10.244.2.5"];

    private static PeerSubnet Peer(int node) => new(IpPrefix.Parse(Subnets[node]), IPAddress.Parse(TwoNodeFabric.NodeIps[node]));

    private static void WirePod(TwoNodeFabric fabric, int node)
    {
        using var nodeNs = Netns.Open(fabric.Nodes[node].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        using var podNs = Netns.Open(fabric.Pods[node].Path);
        using var pod = NetlinkHandle.OpenIn(podNs);
        NodeVeth.Create(host, podNs, pod, new NodeVethSpec(NodeVeth.HostNameFor($"pod{node}", "eth0"), "eth0",
            IPAddress.Parse(PodIps[node]), [IpPrefix.Parse("0.0.0.0/0")]));
    }

    private static ReconcileOutcome Reconcile(TwoNodeFabric fabric, int node, params PeerSubnet[] peers)
    {
        using var nodeNs = Netns.Open(fabric.Nodes[node].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        return HostGwRoutes.Reconcile(host, peers);
    }

    [PrivilegedFact("ip", "ping", "sysctl")]
    public void Pods_on_two_nodes_reach_each_other_through_the_routes_and_not_without()
    {
        using var fabric = new TwoNodeFabric("hg");
        WirePod(fabric, 0);
        WirePod(fabric, 1);
        Assert.False(fabric.Pings(0, PodIps[1]));

        Assert.Equal(new ReconcileOutcome(1, 0, 0), Reconcile(fabric, 0, Peer(1)));
        Assert.Equal(new ReconcileOutcome(1, 0, 0), Reconcile(fabric, 1, Peer(0)));
        Assert.True(fabric.Pings(0, PodIps[1]), "pod on node1 → pod on node2");
        Assert.True(fabric.Pings(1, PodIps[0]), "pod on node2 → pod on node1");
        Assert.Contains("10.244.2.0/24 via 10.80.0.2 dev eth0 proto 95", Shell.IpIn(fabric.Nodes[0].Name, "route", "show"));

        // The node that left: its route goes, nothing else of anyone's.
        Assert.Equal(new ReconcileOutcome(0, 1, 0), Reconcile(fabric, 0));
        Assert.DoesNotContain("10.244.2.0/24", Shell.IpIn(fabric.Nodes[0].Name, "route", "show"));
        Assert.Contains("10.80.0.0/24 dev eth0", Shell.IpIn(fabric.Nodes[0].Name, "route", "show"));
        Assert.False(fabric.Pings(0, PodIps[1]));
    }

    [PrivilegedFact("ip", "sysctl")]
    public void A_route_deleted_by_hand_comes_back_and_a_moved_node_is_followed()
    {
        using var fabric = new TwoNodeFabric("hg");
        Reconcile(fabric, 0, Peer(1));
        Shell.IpIn(fabric.Nodes[0].Name, "route", "del", Subnets[1]);
        Assert.Equal(new ReconcileOutcome(1, 0, 0), Reconcile(fabric, 0, Peer(1)));
        Assert.Equal(new ReconcileOutcome(0, 0, 1), Reconcile(fabric, 0, Peer(1)));

        var moved = Peer(1) with { NodeIp = IPAddress.Parse("10.80.0.9") };
        Assert.Equal(new ReconcileOutcome(1, 0, 0), Reconcile(fabric, 0, moved));
        var routes = Shell.IpIn(fabric.Nodes[0].Name, "route", "show", Subnets[1]);
        Assert.Contains("via 10.80.0.9", routes);
        Assert.DoesNotContain("via 10.80.0.2", routes);
    }

    [PrivilegedFact("ip", "sysctl")]
    public void Routes_it_did_not_install_are_never_touched()
    {
        using var fabric = new TwoNodeFabric("hg");
        Shell.IpIn(fabric.Nodes[0].Name, "route", "add", "10.99.0.0/16", "via", "10.80.0.2");
        Reconcile(fabric, 0);
        Assert.Contains("10.99.0.0/16 via 10.80.0.2", Shell.IpIn(fabric.Nodes[0].Name, "route", "show"));
    }

    [PrivilegedFact("ip")]
    public void Peers_node_IPs_are_pinned_to_their_published_MACs_and_unpinned_when_no_mode_needs_them()
    {
        using var fabric = new TwoNodeFabric("hg");
        using var nodeNs = Netns.Open(fabric.Nodes[0].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        var eth0 = host.GetLink("eth0").Index;
        var mac = System.Net.NetworkInformation.PhysicalAddress.Parse("02-AA-BB-CC-DD-02");
        var peer = new PeerSubnet(IpPrefix.Parse(Subnets[1]), IPAddress.Parse(TwoNodeFabric.NodeIps[1]), NodeMac: mac);

        // A pin left by an earlier run (its peer gone since), and a permanent neighbour someone else made.
        Shell.IpIn(fabric.Nodes[0].Name, "neigh", "add", "10.80.0.77", "lladdr", "02:aa:bb:cc:dd:77", "dev", "eth0", "nud", "permanent", "proto", "95");
        Shell.IpIn(fabric.Nodes[0].Name, "neigh", "add", "10.80.0.78", "lladdr", "02:aa:bb:cc:dd:78", "dev", "eth0", "nud", "permanent");
        string Neighbours() => Shell.IpIn(fabric.Nodes[0].Name, "neigh", "show", "dev", "eth0");

        // Nothing may go (another mode has not said which it needs yet): nothing is unpinned.
        var pinned = HostGwRoutes.PinNeighbours(host, eth0, [peer, Peer(0)], unpin: _ => false);
        Assert.Equal([IPAddress.Parse("10.80.0.2")], pinned);
        Assert.Contains("10.80.0.2 lladdr 02:aa:bb:cc:dd:02 PERMANENT proto 95", Neighbours());
        Assert.Contains("10.80.0.77", Neighbours());

        // Now it has (10.80.0.77 is not among its peers): the stale pin goes, the foreign neighbour stays.
        HostGwRoutes.PinNeighbours(host, eth0, [peer], unpin: _ => true);
        Assert.DoesNotContain("10.80.0.77", Neighbours());
        Assert.Contains("10.80.0.78 lladdr 02:aa:bb:cc:dd:78 PERMANENT", Neighbours());

        // A pin another mode keeps stays; with no peer and nothing kept, the mode's own goes.
        Assert.Empty(HostGwRoutes.PinNeighbours(host, eth0, [], unpin: ip => !ip.Equals(IPAddress.Parse("10.80.0.2"))));
        Assert.Contains("10.80.0.2 lladdr", Neighbours());
        Assert.Empty(HostGwRoutes.PinNeighbours(host, eth0, [], unpin: _ => true));
        Assert.DoesNotContain("10.80.0.2 lladdr 02:aa:bb:cc:dd:02", Neighbours());
        Assert.Contains("10.80.0.78", Neighbours());
    }
}
