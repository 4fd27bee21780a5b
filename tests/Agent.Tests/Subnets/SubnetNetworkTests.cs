using System.Net;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Subnets;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>
/// Issue 10 §2–§3, §6 on the real kernel: two nodes on one fabric, each running the agent's subnet
/// mode against one embedded store (TTL 3 s): each routes the other's subnet (host-gw) or tunnels to
/// it (overlay) and their pods reach each other; an entry deleted by hand comes back within the
/// reconcile period; a node that stops renewing is forgotten, routes and FDB entries gone; back, it
/// gets its old subnet and the routes return.
/// </summary>
public sealed class SubnetNetworkTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-subnets-").FullName;
    private readonly List<IDisposable> _handles = [];
    private readonly Dictionary<string, StateDirectory> _states = [];

    public void Dispose()
    {
        foreach (var h in _handles) h.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    // A node's agent state, kept open across its restarts here (a node that leaves and comes back
    // reads its pods' addresses again).
    private StateDirectory State(string node)
    {
        if (_states.TryGetValue(node, out var state)) return state;
        state = _states[node] = StateDirectory.Open(Path.Combine(_dir, node), syncWrites: false);
        _handles.Add(state);
        return state;
    }

    private SubnetNetwork Start(TwoNodeFabric fabric, int node, AllocationMode mode, bool bpf = false, TimeSpan? reconcile = null,
        bool? masquerade = null)
    {
        var ns = Netns.Open(fabric.Nodes[node].Path);
        _handles.Add(ns);
        NetlinkHandle Open() => NetlinkHandle.OpenIn(ns);
        NodeFabric nodeFabric;
        using (var h = Open()) nodeFabric = NodeFabric.Resolve(h, $"node{node}", "eth0", null);
        var datastore = new SubnetDatastoreConfig { ClusterCidr = "10.244.0.0/16", TtlSeconds = 3, Directory = Path.Combine(_dir, "store") };
        var overlay = mode == AllocationMode.Overlay ? new OverlaySection { Datastore = datastore } : null;
        var cidr = IpPrefix.Parse(datastore.ClusterCidr);
        var settings = new SubnetModeSettings(mode, datastore, nodeFabric, overlay, reconcile ?? TimeSpan.FromMilliseconds(500), Open, bpf,
            () => LinkWatcher.Open(ns), masquerade is { } on ? new SubnetMasquerade(mode, cidr, [cidr], on, fabric.Nodes[node].Path) : null);
        return SubnetNetwork.Start(settings, PodSubnetIpam.Open(State($"node{node}"), Allocation.ModeName(mode)), AgentLog.None);
    }

    // The pod of a node, wired as the plugin wires it, from the agent's allocation (container id pod<node>).
    internal static string WirePod(TwoNodeFabric fabric, int node, SubnetNetwork network)
    {
        var reply = Assert.IsType<AllocatedReply>(network.Allocate(new AllocateRequest { Network = "n", ContainerId = $"pod{node}", IfName = "eth0" }));
        var allocation = Assert.IsAssignableFrom<PodSubnetAllocation>(reply.Allocation);
        using var nodeNs = Netns.Open(fabric.Nodes[node].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        using var podNs = Netns.Open(fabric.Pods[node].Path);
        using var pod = NetlinkHandle.OpenIn(podNs);
        SubnetPod.Wire(host, podNs, pod, fabric.Pods[node].Path, "eth0", IPAddress.Parse(allocation.Ip), allocation.HostVeth, allocation.Mtu, () => null);
        return allocation.Ip;
    }

    private static string Routes(TwoNodeFabric fabric, int node) => Shell.IpIn(fabric.Nodes[node].Name, "route", "show", "proto", "95");

    private static string Fdb(TwoNodeFabric fabric, int node) =>
        Shell.Run("bridge", ["-n", fabric.Nodes[node].Name, "fdb", "show", "dev", "fathom.1"]).Stdout;

    [PrivilegedTheory("ip", "ping", "bridge")]
    [InlineData(AllocationMode.HostGw)]
    [InlineData(AllocationMode.Overlay)]
    public async Task Peers_are_programmed_repaired_forgotten_when_they_stop_renewing_and_get_their_subnet_back(AllocationMode mode)
    {
        using var fabric = new TwoNodeFabric("sn");
        var n0 = Start(fabric, 0, mode);
        var n1 = Start(fabric, 1, mode);
        try
        {
            Eventually.True(() => n0.Lease is not null && n1.Lease is not null, "both nodes leased a subnet");
            var subnet1 = n1.Lease!.Subnet.ToString();
            Eventually.True(() => Routes(fabric, 0).Contains(subnet1) && Routes(fabric, 1).Contains(n0.Lease!.Subnet.ToString()), "each routes the other's subnet");

            // Shared pods' packets for the cluster CIDR take the main table, not their ENI's (ClusterRule).
            Eventually.True(() => Shell.IpIn(fabric.Nodes[0].Name, "rule", "show").Contains($"{ClusterRule.Priority}:\tfrom all to 10.244.0.0/16 lookup main"),
                "the node's rule for the cluster CIDR");
            Assert.InRange(ClusterRule.Priority, Fathom.Datapath.Shared.SharedWiring.ToPodPriority + 1, Fathom.Datapath.Shared.SharedWiring.FromPodPriority - 1);

            var ip0 = WirePod(fabric, 0, n0);
            var ip1 = WirePod(fabric, 1, n1);
            Assert.True(fabric.Pings(0, ip1), $"pod on node0 ({ip0}) → pod on node1 ({ip1})");
            Assert.True(fabric.Pings(1, ip0), "and back");
            if (mode == AllocationMode.Overlay)
                Assert.Contains("mtu 1450", Shell.IpIn(fabric.Pods[0].Name, "link", "show", "eth0"));

            // Deleted by hand: back within the reconcile period (500 ms here), counted as a repair.
            Shell.IpIn(fabric.Nodes[0].Name, "route", "del", subnet1);
            if (mode == AllocationMode.Overlay)
                Shell.Run("bridge", ["-n", fabric.Nodes[0].Name, "fdb", "del", n1.Lease.Node.Vtep!.Mac.ToString().ToLowerInvariant().Insert(10, ":").Insert(8, ":").Insert(6, ":").Insert(4, ":").Insert(2, ":"), "dev", "fathom.1", "self"]);
            Eventually.True(() => Routes(fabric, 0).Contains(subnet1), "the route deleted by hand is back", TimeSpan.FromSeconds(10));
            Assert.True(n0.Programmer.Repairs >= 1, $"repairs counted ({n0.Programmer.Repairs})");
            if (mode == AllocationMode.Overlay)
                Eventually.True(() => Fdb(fabric, 0).Contains("dst 10.80.0.2"), "the FDB entry is back");

            // node1's agent stops (no release): after the TTL node0 forgets it.
            await n1.DisposeAsync();
            Eventually.True(() => !Routes(fabric, 0).Contains(subnet1), "node1's route gone after its lease expired", TimeSpan.FromSeconds(20));
            Assert.Empty(n0.Peers());
            if (mode == AllocationMode.Overlay)
                Assert.DoesNotContain("dst 10.80.0.2", Fdb(fabric, 0));

            // Back: the same subnet, routed again, and its pod (which kept its address) reachable.
            n1 = Start(fabric, 1, mode);
            Eventually.True(() => n1.Lease is not null, "node1 leased again");
            Assert.Equal(subnet1, n1.Lease!.Subnet.ToString());
            Eventually.True(() => Routes(fabric, 0).Contains(subnet1), "node1's route is back", TimeSpan.FromSeconds(10));
            Assert.True(fabric.Pings(0, ip1), "pod on node0 → pod on node1 again");
        }
        finally
        {
            await n0.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    /// <summary>
    /// An agent restarted with its peers' routes (and overlay's FDB entries) in the kernel takes none of
    /// them out, not even for a moment: it reconciles only once it has listed the peers. Watched with
    /// <c>ip monitor</c> in the node across the restart.
    /// </summary>
    [PrivilegedTheory("ip", "bridge")]
    [InlineData(AllocationMode.HostGw)]
    [InlineData(AllocationMode.Overlay)]
    public async Task A_restarted_agent_never_takes_its_peers_routes_out(AllocationMode mode)
    {
        using var fabric = new TwoNodeFabric("sk");
        var n0 = Start(fabric, 0, mode);
        var n1 = Start(fabric, 1, mode);
        try
        {
            Eventually.True(() => n1.Lease is not null && n0.Lease is not null && Routes(fabric, 0).Contains(n1.Lease.Subnet.ToString()), "node0 routes node1's subnet");
            await n0.DisposeAsync();

            var monitor = new System.Diagnostics.ProcessStartInfo("ip", ["-n", fabric.Nodes[0].Name, "monitor", "route", "neigh"])
            {
                RedirectStandardOutput = true,
            };
            using var watching = System.Diagnostics.Process.Start(monitor)!;
            var seen = watching.StandardOutput.ReadToEndAsync();
            try
            {
                await Task.Delay(200);  // subscribed before the restart
                n0 = Start(fabric, 0, mode);
                Eventually.True(() => n0.Programmer.Reconciles >= 3, "node0 reconciled a few times after its restart");
            }
            finally
            {
                watching.Kill();
            }
            var events = await seen;
            Assert.DoesNotContain("Deleted", events, StringComparison.Ordinal);
            Assert.Contains(n1.Lease!.Subnet.ToString(), Routes(fabric, 0));
        }
        finally
        {
            await n0.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    /// <summary>
    /// Outgoing NAT (docs/modes.md, "Leaving the cluster"): a host on the fabric that knows nothing of
    /// the pod CIDR answers a pod only because the pod's packets leave as the node; the mode's nft
    /// table is put back when deleted by hand, and removed when the mode's <c>masquerade</c> is off.
    /// </summary>
    [PrivilegedTheory("ip", "ping", "nft", "nsenter")]
    [InlineData(AllocationMode.HostGw)]
    [InlineData(AllocationMode.Overlay)]
    public async Task A_pod_reaches_a_host_outside_the_cluster_as_its_node_and_without_masquerade_does_not(AllocationMode mode)
    {
        using var fabric = new TwoNodeFabric("sm");
        const string Outside = "10.80.0.254";
        Shell.IpIn(fabric.Fabric.Name, "addr", "add", $"{Outside}/24", "dev", "br0");
        var table = "fathom_" + Allocation.ModeName(mode).Replace('-', '_');
        string Nft(params string[] args) => Shell.Run("ip", ["netns", "exec", fabric.Nodes[0].Name, "nft", .. args]).Stdout;
        var n0 = Start(fabric, 0, mode, masquerade: true);
        try
        {
            Eventually.True(() => n0.Lease is not null, "node0 leased a subnet");
            WirePod(fabric, 0, n0);
            Eventually.True(() => n0.Programmer.Masquerading, "the outgoing NAT is in the kernel");
            Assert.True(fabric.Pings(0, Outside), $"pod → {Outside}, a host with no route to the pods");
            Assert.Contains("masquerade", Nft("list", "table", "ip", table));

            var repairs = n0.Programmer.Repairs;
            Nft("delete", "table", "ip", table);
            Eventually.True(() => Nft("list", "tables").Contains(table), "the table deleted by hand is back", TimeSpan.FromSeconds(10));
            Eventually.True(() => n0.Programmer.Repairs > repairs, "and counted as a repair");

            await n0.DisposeAsync();
            n0 = Start(fabric, 0, mode, masquerade: false);
            Eventually.True(() => n0.Lease is not null && !Nft("list", "tables").Contains(table), "masquerade off: the table is gone", TimeSpan.FromSeconds(10));
            Assert.False(n0.Programmer.Masquerading);
            Assert.NotEqual(0, Shell.Exec(fabric.Pods[0].Name, "ping", "-c1", "-W1", Outside).ExitCode);
        }
        finally
        {
            await n0.DisposeAsync();
        }
    }

    /// <summary>
    /// <c>redirect: bpf</c>: the reconcile puts <c>to_pod</c> on the uplink and <c>from_pod</c> on each
    /// pod's veth; the pods then reach each other with neither node forwarding a packet, and the node
    /// still reaches its pod (kubelet's probes).
    /// </summary>
    [PrivilegedTheory("ip", "ping", "nstat")]
    [InlineData(AllocationMode.HostGw)]
    [InlineData(AllocationMode.Overlay)]
    public async Task With_redirect_bpf_pods_reach_each_other_past_the_nodes_stack(AllocationMode mode)
    {
        using var fabric = new TwoNodeFabric("sb");
        var n0 = Start(fabric, 0, mode, bpf: true);
        var n1 = Start(fabric, 1, mode, bpf: true);
        try
        {
            Eventually.True(() => n0.Lease is not null && n1.Lease is not null, "both nodes leased a subnet");
            var ip0 = WirePod(fabric, 0, n0);
            var ip1 = WirePod(fabric, 1, n1);
            Eventually.True(() => n0.Programmer.RedirectedPods == 1 && n1.Programmer.RedirectedPods == 1, "each pod's veth has from_pod", TimeSpan.FromSeconds(10));
            Assert.Null(n0.Programmer.TakeRedirectRefusal());
            var uplink = mode == AllocationMode.Overlay ? "fathom.1" : "eth0";
            Assert.Contains("fathom_to_pod direct-action", Shell.Exec(fabric.Nodes[0].Name, "tc", "filter", "show", "dev", uplink, "ingress").Stdout);

            // Overlay: the programs wrap and unwrap VXLAN themselves, the VXLAN devices carry nothing.
            if (mode == AllocationMode.Overlay)
                Assert.Contains("fathom_vxlan_in direct-action", IngressFilters(fabric, "eth0"));
            var before = Forwarded(fabric, 0) + Forwarded(fabric, 1);
            var vxlanBefore = mode == AllocationMode.Overlay ? VxlanPackets(fabric, 0) + VxlanPackets(fabric, 1) : 0;
            Assert.True(fabric.Pings(0, ip1), $"pod on node0 ({ip0}) → pod on node1 ({ip1})");
            Assert.True(fabric.Pings(1, ip0), "and back");
            Assert.Equal(before, Forwarded(fabric, 0) + Forwarded(fabric, 1));
            if (mode == AllocationMode.Overlay)
                Assert.Equal(vxlanBefore, VxlanPackets(fabric, 0) + VxlanPackets(fabric, 1));
            Assert.Equal(0, Shell.Exec(fabric.Nodes[0].Name, "ping", "-c1", "-W2", ip0).ExitCode); // node → its pod

            // redirect: kernel again — the mode's programs leave the node's devices and its pod's veth; the pods still reach each other.
            var veth = NodeVeth.HostNameFor("pod0", "eth0");
            Assert.Contains("fathom_from_pod direct-action", IngressFilters(fabric, veth));
            await n0.DisposeAsync();
            n0 = Start(fabric, 0, mode);
            Eventually.True(() => !IngressFilters(fabric, uplink).Contains("fathom_to_pod", StringComparison.Ordinal)
                && !IngressFilters(fabric, "eth0").Contains("fathom_vxlan_in", StringComparison.Ordinal)
                && !IngressFilters(fabric, veth).Contains("fathom_from_pod", StringComparison.Ordinal), "redirect: kernel takes the programs off", TimeSpan.FromSeconds(10));
            Assert.True(fabric.Pings(1, ip0), "pod on node1 → pod on node0, through node0's kernel");
        }
        finally
        {
            await n0.DisposeAsync();
            await n1.DisposeAsync();
        }
    }

    /// <summary>
    /// <c>redirect: bpf</c> with the reconcile ten minutes away: a new pod's veth has <c>from_pod</c>
    /// within a second of its ADD, attached as the veth appeared (the node's link events), and a
    /// second pod likewise; the ADD itself did not wait for it.
    /// </summary>
    [PrivilegedFact("ip", "tc")]
    public async Task With_redirect_bpf_a_new_pods_veth_gets_from_pod_as_it_appears_not_at_the_next_reconcile()
    {
        using var fabric = new TwoNodeFabric("sw");
        var n0 = Start(fabric, 0, AllocationMode.HostGw, bpf: true, reconcile: TimeSpan.FromMinutes(10));
        try
        {
            Eventually.True(() => n0.Lease is not null, "node0 leased a subnet");
            Eventually.True(() => IngressFilters(fabric, "eth0").Contains("fathom_to_pod", StringComparison.Ordinal), "to_pod on the uplink (the first reconcile, at the lease)");
            var reconciles = n0.Programmer.Reconciles;

            WirePod(fabric, 0, n0);
            var veth = NodeVeth.HostNameFor("pod0", "eth0");
            Eventually.True(() => IngressFilters(fabric, veth).Contains("fathom_from_pod direct-action", StringComparison.Ordinal),
                "the new pod's veth has from_pod", TimeSpan.FromSeconds(2));
            Assert.Equal(1, n0.PodVethsRedirectedOnSight);
            Assert.Equal(reconciles, n0.Programmer.Reconciles); // not the reconcile's doing
            Assert.Equal(1, n0.Programmer.RedirectedPods);
        }
        finally
        {
            await n0.DisposeAsync();
        }
    }

    private static string IngressFilters(TwoNodeFabric fabric, string device) =>
        Shell.Exec(fabric.Nodes[0].Name, "tc", "filter", "show", "dev", device, "ingress").Stdout;

    private static long VxlanPackets(TwoNodeFabric fabric, int node)
    {
        using var doc = System.Text.Json.JsonDocument.Parse(Shell.Exec(fabric.Nodes[node].Name, "ip", "-j", "-s", "link", "show", "fathom.1").Stdout);
        var stats = doc.RootElement[0].GetProperty("stats64");
        return stats.GetProperty("tx").GetProperty("packets").GetInt64() + stats.GetProperty("rx").GetProperty("packets").GetInt64();
    }

    private static long Forwarded(TwoNodeFabric fabric, int node) =>
        long.Parse(Shell.Exec(fabric.Nodes[node].Name, "nstat", "-az", "IpForwDatagrams").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Single(l => l.StartsWith("IpForwDatagrams", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    [PrivilegedFact("ip")]
    public async Task Without_a_reachable_datastore_ADD_is_11_naming_it()
    {
        using var fabric = new TwoNodeFabric("sn");
        var ns = Netns.Open(fabric.Nodes[0].Path);
        _handles.Add(ns);
        NetlinkHandle Open() => NetlinkHandle.OpenIn(ns);
        NodeFabric nodeFabric;
        using (var h = Open()) nodeFabric = NodeFabric.Resolve(h, "node0", "eth0", null);
        // Nothing listens on 127.0.0.1:9 (discard): every call is refused at once.
        var datastore = new SubnetDatastoreConfig { Kind = "etcd", ClusterCidr = "10.244.0.0/16", Endpoints = ["http://127.0.0.1:9"], RequestTimeoutSeconds = 0.5 };
        var network = SubnetNetwork.Start(new SubnetModeSettings(AllocationMode.HostGw, datastore, nodeFabric, null, TimeSpan.FromSeconds(1), Open),
            PodSubnetIpam.Open(State("node0"), "host-gw"), AgentLog.None);
        try
        {
            var error = Assert.IsType<ErrorReply>(network.Allocate(new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0" }));
            Assert.Equal(AgentErrorCode.TryAgainLater, error.Code);
            Assert.Contains("etcd (http://127.0.0.1:9)", error.Message);
        }
        finally
        {
            await network.DisposeAsync();
        }
    }

    [PrivilegedFact("ip")]
    public async Task A_pod_record_that_cannot_be_written_is_code_5_naming_it_and_the_retried_ADD_and_DEL_succeed()
    {
        using var fabric = new TwoNodeFabric("sn");
        var network = Start(fabric, 0, AllocationMode.HostGw);
        try
        {
            Eventually.True(() => network.Lease is not null, "the node leased a subnet");
            var ask = new AllocateRequest { Network = "n", ContainerId = "c1", IfName = "eth0" };
            var state = State("node0");
            state.CrashPoint = step => { if (step == "rename") throw new IOException("No space left on device"); };
            var error = Assert.IsType<ErrorReply>(network.Allocate(ask));
            Assert.Equal(AgentErrorCode.IoFailure, error.Code);
            Assert.Contains("cannot write its state while giving c1/eth0 a host-gw address: No space left on device", error.Message);
            Assert.False(network.Holds("n", "c1", "eth0"));

            state.CrashPoint = null;
            Assert.IsType<AllocatedReply>(network.Allocate(ask));
            state.CrashPoint = step => { if (step == "rename") throw new IOException("No space left on device"); };
            Assert.Throws<IOException>(() => network.Release("n", "c1", "eth0"));
            Assert.True(network.Holds("n", "c1", "eth0"));
            state.CrashPoint = null;
            Assert.True(network.Release("n", "c1", "eth0"));
            Assert.False(network.Holds("n", "c1", "eth0"));
        }
        finally
        {
            await network.DisposeAsync();
        }
    }
}
