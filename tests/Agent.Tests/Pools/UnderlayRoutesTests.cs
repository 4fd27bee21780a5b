using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;

namespace Fathom.Agent.Tests.Pools;

/// <summary>
/// An underlay pod made before its node ran a subnet mode gets the mode's cluster CIDR through its
/// node veth at the agent's next start (<see cref="UnderlayRoutes"/>), on the real kernel, and loses it
/// when the mode goes; one made while the node ran a mode dropped since loses that route, and only that one; pods that have what
/// they need, pods gone and other modes' pods are left alone.
/// </summary>
public sealed class UnderlayRoutesTests : IDisposable
{
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    [PrivilegedFact("ip")]
    public void A_pod_made_before_the_subnet_modes_gets_their_cluster_cidrs_through_its_node_veth_once()
    {
        using var node = TestNetns.Create("ur");
        using var pod = TestNetns.Create("ur");
        // The pod's small veth as the plugin wired it, with the node's address through it and nothing else.
        WireNodeVeth(node, pod, "fthur", "10.0.0.12/32");

        var store = AllocationStore.Open(_fx.State);
        store.Grant(new AttachmentKey("n", "old", "eth0"), StateFixture.Underlay("eni-1", "10.0.2.7"), netnsPath: pod.Path);
        store.Grant(new AttachmentKey("n", "new", "eth0"), StateFixture.Underlay("eni-2", "10.0.2.8") with { NodeRoutes = ["10.244.0.0/16"] },
            netnsPath: "/run/netns/ftest-no-such-pod");
        store.Grant(new AttachmentKey("n", "gone", "eth0"), StateFixture.Underlay("eni-3", "10.0.2.9"), netnsPath: "/run/netns/ftest-no-such-pod");
        store.Grant(new AttachmentKey("n", "shared", "eth0"), StateFixture.Shared("10.0.1.9"), netnsPath: pod.Path);

        Assert.Equal(1, UnderlayRoutes.Reconcile(store, ["10.244.0.0/16", "10.245.0.0/16"], _fx.Log));
        var routes = Shell.IpIn(pod.Name, "route", "show");
        Assert.Contains("10.244.0.0/16 via 169.254.1.1 dev veth-node onlink", routes);
        Assert.Contains("10.245.0.0/16 via 169.254.1.1 dev veth-node onlink", routes);
        Assert.Contains("10.0.0.12 via 169.254.1.1 dev veth-node onlink", routes);
        var said = Assert.Single(_fx.Events("pool.underlay-routes-added"));
        Assert.Equal("n/old/eth0", said.GetProperty("attachment").GetString());

        // Recorded, durably: the next start (a store opened again) finds nothing to add.
        store = AllocationStore.Open(_fx.State);
        Assert.True(store.TryGet(new AttachmentKey("n", "old", "eth0"), out var old));
        Assert.Equal(["10.244.0.0/16", "10.245.0.0/16"], ((UnderlayAllocation)old.Allocation).NodeRoutes);
        Assert.Equal(0, UnderlayRoutes.Reconcile(store, ["10.244.0.0/16", "10.245.0.0/16"], _fx.Log));
        Assert.Empty(_fx.Events("pool.underlay-routes-removed"));

        // The modes dropped: what this pass added goes as an ADD's route would; the node's address stays.
        Assert.Equal(1, UnderlayRoutes.Reconcile(store, [], _fx.Log));
        routes = Shell.IpIn(pod.Name, "route", "show");
        Assert.DoesNotContain("10.244.0.0/16", routes);
        Assert.DoesNotContain("10.245.0.0/16", routes);
        Assert.Contains("10.0.0.12 via 169.254.1.1 dev veth-node onlink", routes);
        Assert.Equal(0, UnderlayRoutes.Reconcile(store, [], _fx.Log));
        Assert.Empty(_fx.Events("pool.underlay-routes-failed"));
    }

    [PrivilegedFact("ip")]
    public void A_pod_made_under_a_mode_dropped_since_loses_the_route_its_add_recorded_and_no_other()
    {
        using var node = TestNetns.Create("ud");
        using var pod = TestNetns.Create("ud");
        // What the plugin's ADD made under host-gw and overlay, and a route someone else put there.
        WireNodeVeth(node, pod, "fthud", "10.244.0.0/16", "10.245.0.0/16", "10.96.0.0/12");
        var store = AllocationStore.Open(_fx.State);
        store.Grant(new AttachmentKey("n", "made", "eth0"), StateFixture.Underlay("eni-1", "10.0.2.7") with { NodeRoutes = ["10.244.0.0/16", "10.245.0.0/16"] },
            netnsPath: pod.Path);

        // overlay dropped from the config: its route goes.
        Assert.Equal(1, UnderlayRoutes.Reconcile(store, ["10.244.0.0/16"], _fx.Log));
        var routes = Shell.IpIn(pod.Name, "route", "show");
        Assert.DoesNotContain("10.245.0.0/16", routes);
        Assert.Contains("10.244.0.0/16 via 169.254.1.1 dev veth-node onlink", routes);
        var said = Assert.Single(_fx.Events("pool.underlay-routes-removed"));
        Assert.Equal("10.245.0.0/16", said.GetProperty("removed").GetString());

        // No subnet mode left: host-gw's goes too; the route the record does not name stays.
        Assert.Equal(1, UnderlayRoutes.Reconcile(store, [], _fx.Log));
        routes = Shell.IpIn(pod.Name, "route", "show");
        Assert.DoesNotContain("10.244.0.0/16", routes);
        Assert.Contains("10.96.0.0/12 via 169.254.1.1 dev veth-node onlink", routes);
        Assert.Equal(0, UnderlayRoutes.Reconcile(store, [], _fx.Log));
        Assert.Empty(_fx.Events("pool.underlay-routes-failed"));
    }

    // An underlay pod's small veth (veth-node, 10.0.2.7/32) with routes through the node to each of destinations.
    private static void WireNodeVeth(TestNetns node, TestNetns pod, string hostName, params string[] destinations)
    {
        Shell.IpIn(node.Name, "link", "add", hostName, "type", "veth", "peer", "name", "veth-node", "netns", pod.Name);
        Shell.IpIn(node.Name, "link", "set", hostName, "up");
        Shell.IpIn(pod.Name, "link", "set", "veth-node", "up");
        Shell.IpIn(pod.Name, "addr", "add", "10.0.2.7/32", "dev", "veth-node");
        foreach (var destination in destinations)
            Shell.IpIn(pod.Name, "route", "add", destination, "via", "169.254.1.1", "dev", "veth-node", "onlink");
    }
}
