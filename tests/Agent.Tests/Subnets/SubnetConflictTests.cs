using System.Net;
using Fathom.Agent.Protocol;
using Fathom.Agent.Subnets;
using Fathom.Datastore;
using Fathom.Datastore.Configuration;
using Fathom.Netlink;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>
/// Issue 10 §1: a node whose subnet was taken by another while its lease had expired. The rule on
/// its own (no kernel), then the agent's subnet modes on a fake clock over the real embedded store:
/// the node comes back with another subnet, takes no new pod (11 naming the conflict), is not ready
/// and says so in the metrics — until its stranded pod is deleted.
/// </summary>
public sealed class SubnetConflictTests : IDisposable
{
    private static readonly IPNetwork S0 = IPNetwork.Parse("10.244.0.0/24");
    private static readonly IPNetwork S1 = IPNetwork.Parse("10.244.1.0/24");
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    private static SubnetLease Lease(IPNetwork subnet, string node) => new(subnet, new NodeAttributes(node, IPAddress.Parse("10.80.0.9")), null);

    private static PodSubnetEntry Pod(string id, string ip, bool releasing = false) => new("n", id, "eth0", ip, "fthv" + id, releasing);

    [Fact]
    public void Pods_inside_the_leased_subnet_or_already_deleted_are_no_conflict()
    {
        Assert.Null(SubnetConflict.Find(Lease(S1, "a"), [Pod("p1", "10.244.1.5"), Pod("p2", "10.244.0.7", releasing: true)], [Lease(S0, "b")]));
    }

    [Fact]
    public void Pods_outside_it_are_stranded_and_the_message_names_the_subnet_its_taker_and_the_way_out()
    {
        var conflict = SubnetConflict.Find(Lease(S1, "a"), [Pod("p1", "10.244.0.5"), Pod("p2", "10.244.1.2"), Pod("p3", "10.244.0.6")], [Lease(S0, "b")]);
        Assert.NotNull(conflict);
        Assert.Equal(S1, conflict.Held);
        Assert.Equal([S0], conflict.Lost);
        Assert.Equal(["p1", "p3"], conflict.Stranded.Select(p => p.ContainerId));
        Assert.Equal(["b"], conflict.TakenBy);
        var message = conflict.Describe("host-gw");
        Assert.Contains("2 pods hold addresses of 10.244.0.0/24 (10.244.0.5, 10.244.0.6)", message);
        Assert.Contains("now leased by node b", message);
        Assert.Contains("now holds 10.244.1.0/24", message);
        Assert.Contains("drain the node", message);
    }

    [Fact]
    public void A_lost_subnet_nobody_leases_any_more_is_still_a_conflict()
    {
        var conflict = SubnetConflict.Find(Lease(S1, "a"), [Pod("p1", "10.244.0.5")], []);
        Assert.NotNull(conflict);
        Assert.Equal([S0], conflict.Lost);
        Assert.Empty(conflict.TakenBy);
        Assert.Contains("which the node no longer leases", conflict.Describe("overlay"));
    }

    /// <summary>
    /// Node a holds 10.244.0.0/24 with a pod and its agent stops; the TTL passes (fake clock); c takes
    /// the other subnet and b takes a's. a's agent starts again: no subnet is free until c leaves, then
    /// it holds 10.244.1.0/24 — and its pod still holds 10.244.0.1.
    /// </summary>
    [PrivilegedFact("ip")]
    public async Task A_node_back_after_its_subnet_was_taken_refuses_ADDs_with_11_is_not_ready_until_its_stranded_pods_are_deleted()
    {
        using var node = TestNetns.Create("conf");
        // The node's fabric: a veth whose peer stays in the node (this kernel has no dummy driver), up, addressed.
        Shell.IpIn(node.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "fabric");
        Shell.IpIn(node.Name, "addr", "add", "10.80.0.1/24", "dev", "eth0");
        Shell.IpIn(node.Name, "link", "set", "fabric", "up");
        Shell.IpIn(node.Name, "link", "set", "eth0", "up");
        using var ns = Netns.Open(node.Path);
        var storeDirectory = _fx.Path("store");
        var config = new SubnetConfig
        {
            NodeName = "a", FabricDevice = "eth0", ReconcileSeconds = 1,
            HostGw = new HostGwSection { Datastore = new SubnetDatastoreConfig { ClusterCidr = "10.244.0.0/23", TtlSeconds = 30, Directory = storeDirectory } },
        };
        var time = _fx.Time;
        await using var store = await new DatastoreOptions { ClusterCidr = "10.244.0.0/23", Ttl = TimeSpan.FromSeconds(30), Directory = storeDirectory }.OpenAsync(time);

        var first = SubnetModes.Start(config, _fx.State, null, _fx.Log, time, ns)!;
        var a = first.Networks[AllocationMode.HostGw];
        Eventually.True(() => a.Lease is not null, "node a's first lease");
        Assert.Equal(S0, a.Lease!.Subnet);
        var held = Assert.IsType<AllocatedReply>(a.Allocate(new AllocateRequest { Network = "n", ContainerId = "old", IfName = "eth0" }));
        Assert.Equal("10.244.0.1/32", Assert.IsType<HostGwAllocation>(held.Allocation).Address);
        await first.DisposeAsync();

        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(S1, (await store.AcquireOrRenewAsync(new NodeAttributes("c", IPAddress.Parse("10.80.0.3")))).Subnet);
        Assert.Equal(S0, (await store.AcquireOrRenewAsync(new NodeAttributes("b", IPAddress.Parse("10.80.0.2")))).Subnet);

        await using var modes = SubnetModes.Start(config, _fx.Restart(), null, _fx.Log, time, ns)!;
        a = modes.Networks[AllocationMode.HostGw];
        Eventually.True(() => a.Unavailable()?.Contains("did not answer", StringComparison.Ordinal) == true, "a's first try: no subnet free");
        Assert.True(await store.ReleaseAsync("c"));
        // The agent retries every 200 ms doubling (fake time): well within b's TTL.
        Eventually.True(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(500));
            return a.Lease is not null;
        }, "node a leases the subnet c gave up", TimeSpan.FromSeconds(20));
        Assert.Equal(S1, a.Lease!.Subnet);

        Eventually.True(() => a.Conflict()?.TakenBy.Contains("b") == true, "the conflict, naming b once a sees b's lease");
        var refused = Assert.IsType<ErrorReply>(a.Allocate(new AllocateRequest { Network = "n", ContainerId = "new", IfName = "eth0" }));
        Assert.Equal(AgentErrorCode.TryAgainLater, refused.Code);
        Assert.Contains("1 pod holds an address of 10.244.0.0/24 (10.244.0.1), now leased by node b", refused.Message);
        Assert.Contains("no new pod gets an address until those pods are deleted", refused.Message);
        Assert.Contains("subnet conflict", modes.NotReady());
        Eventually.True(() => modes.RenderMetrics().Contains("fathom_agent_subnet_conflicts_total{mode=\"host-gw\"} 1", StringComparison.Ordinal), "the conflict reported");
        var metrics = modes.RenderMetrics();
        Assert.Contains("fathom_agent_subnet_conflict{mode=\"host-gw\"} 1", metrics);
        Assert.Contains("fathom_agent_subnet_stranded_pods{mode=\"host-gw\"} 1", metrics);
        Assert.Contains("fathom_agent_subnet_lease_held{mode=\"host-gw\"} 1", metrics); // the lease itself is fine
        Assert.Single(_fx.Events("subnet.conflict"));
        // fathomctl status says so too, after the pools' rows: the new lease, the stranded pod, why new pods are refused.
        var status = Assert.IsType<StatusReply>(await modes.Serve(new PoolsStatusOnly()).StatusAsync(new StatusRequest(), default)).Status;
        Assert.Equal("0.0.0-pools", status.AgentVersion);
        var row = Assert.Single(status.Subnets);
        Assert.Equal((AllocationMode.HostGw, "10.244.1.0/24"), (row.Mode, row.Subnet));
        Assert.Contains("now leased by node b", row.Unavailable);
        Assert.Equal(("old", "10.244.0.1", false), Assert.Single(row.Pods) is var p ? (p.ContainerId, p.Ip, p.Releasing) : default);
        // The old pod keeps its address: its retried ADD gets it, CHECK finds it.
        var again = Assert.IsType<AllocatedReply>(a.Allocate(new AllocateRequest { Network = "n", ContainerId = "old", IfName = "eth0" }));
        Assert.Equal("10.244.0.1/32", Assert.IsType<HostGwAllocation>(again.Allocation).Address);
        Assert.True(a.Holds("n", "old", "eth0"));

        // Drained: the stranded pod's DEL ends the conflict; new pods get addresses of the new subnet.
        Assert.True(a.Release("n", "old", "eth0"));
        Assert.Null(a.Conflict());
        Assert.Null(modes.NotReady());
        var fresh = Assert.IsType<AllocatedReply>(a.Allocate(new AllocateRequest { Network = "n", ContainerId = "new", IfName = "eth0" }));
        Assert.StartsWith("10.244.1.", Assert.IsType<HostGwAllocation>(fresh.Allocation).Address);
        Assert.Contains("fathom_agent_subnet_conflict{mode=\"host-gw\"} 0", modes.RenderMetrics());
        time.Advance(TimeSpan.FromSeconds(1));
        Eventually.True(() => _fx.Events("subnet.conflict-over").Count == 1, "the end of the conflict logged at the next reconcile");
    }

    // The pools' side of the agent's service, as far as a status goes.
    private sealed class PoolsStatusOnly : IAgentService
    {
        public ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult<AgentReply>(new StatusReply { Status = new AgentStatus { AgentVersion = "0.0.0-pools", Time = DateTimeOffset.UnixEpoch } });

        public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
