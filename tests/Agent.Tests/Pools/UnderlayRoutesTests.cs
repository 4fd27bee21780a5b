using Fathom.Agent.Pools;
using Fathom.Agent.State;

namespace Fathom.Agent.Tests.Pools;

/// <summary>
/// An underlay pod made before its node ran a subnet mode gets the mode's cluster CIDR through its
/// node veth at the agent's next start (<see cref="UnderlayRoutes"/>), on the real kernel; pods that
/// have it, pods gone and other modes' pods are left alone.
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
        Shell.IpIn(node.Name, "link", "add", "fthur", "type", "veth", "peer", "name", "veth-node", "netns", pod.Name);
        Shell.IpIn(node.Name, "link", "set", "fthur", "up");
        Shell.IpIn(pod.Name, "link", "set", "veth-node", "up");
        Shell.IpIn(pod.Name, "addr", "add", "10.0.2.7/32", "dev", "veth-node");
        Shell.IpIn(pod.Name, "route", "add", "10.0.0.12/32", "via", "169.254.1.1", "dev", "veth-node", "onlink");

        var store = AllocationStore.Open(_fx.State);
        store.Grant(new AttachmentKey("n", "old", "eth0"), StateFixture.Underlay("eni-1", "10.0.2.7"), netnsPath: pod.Path);
        store.Grant(new AttachmentKey("n", "new", "eth0"), StateFixture.Underlay("eni-2", "10.0.2.8") with { NodeRoutes = ["10.244.0.0/16"] },
            netnsPath: "/run/netns/ftest-no-such-pod");
        store.Grant(new AttachmentKey("n", "gone", "eth0"), StateFixture.Underlay("eni-3", "10.0.2.9"), netnsPath: "/run/netns/ftest-no-such-pod");
        store.Grant(new AttachmentKey("n", "shared", "eth0"), StateFixture.Shared("10.0.1.9"), netnsPath: pod.Path);

        Assert.Equal(1, UnderlayRoutes.AddMissing(store, ["10.244.0.0/16", "10.245.0.0/16"], _fx.Log));
        var routes = Shell.IpIn(pod.Name, "route", "show");
        Assert.Contains("10.244.0.0/16 via 169.254.1.1 dev veth-node onlink", routes);
        Assert.Contains("10.245.0.0/16 via 169.254.1.1 dev veth-node onlink", routes);
        Assert.Contains("10.0.0.12 via 169.254.1.1 dev veth-node onlink", routes);
        var said = Assert.Single(_fx.Events("pool.underlay-routes-added"));
        Assert.Equal("n/old/eth0", said.GetProperty("attachment").GetString());

        // The next start finds nothing to add; without subnet modes there is nothing to look at.
        Assert.Equal(0, UnderlayRoutes.AddMissing(store, ["10.244.0.0/16", "10.245.0.0/16"], _fx.Log));
        Assert.Equal(0, UnderlayRoutes.AddMissing(store, [], _fx.Log));
        Assert.Empty(_fx.Events("pool.underlay-routes-failed"));
    }
}
