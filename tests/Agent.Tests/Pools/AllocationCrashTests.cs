using System.Net;
using System.Net.NetworkInformation;
using Fathom.Agent.Hosting;
using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Agent.Tests.State;
using Fathom.Cloud;

namespace Fathom.Agent.Tests.Pools;

/// <summary>
/// Every crash point of an allocation's life (issue 9 §9, docs/agent.md "After a crash"), fast and
/// deterministic: the agent "dies" at the N-th step of its durable writes (<see cref="StateDirectory.CrashPoint"/>
/// throws), the state is reopened from disk as a restarted agent reads it (<see cref="StateFixture.Restart"/>),
/// on the fake clock. The pool holds exactly one free IP (or one warm ENI), so a resource handed out
/// twice cannot hide. After every crash: the resource is held or free, never both, never lost —
/// the runtime's DEL, or reconcile once the pod's netns is gone, frees it; a freed IP comes back
/// only after its cooldown and its teardown.
/// </summary>
public sealed class AllocationCrashTests : IAsyncLifetime
{
    private static readonly IPNetwork Subnet = IPNetwork.Parse("10.0.1.0/24");
    private const string Ip = "10.0.1.100";
    private const string PodNetns = "/run/netns/pod-a";
    private readonly StateFixture _fx = new();
    private Node _node;

    public AllocationCrashTests() => _node = new Node(_fx);

    public Task InitializeAsync() => Task.CompletedTask;

    // xunit v2 calls IAsyncLifetime, never IAsyncDisposable: as IAsyncDisposable this class left its
    // state directory (and its teardown worker) behind after every test.
    public async Task DisposeAsync()
    {
        await _node.Teardown.DisposeAsync();
        _fx.Dispose();
    }

    /// <summary>One agent's objects over the fixture's state, with a pool of one ENI carrying one free IP and one warm ENI.</summary>
    private sealed class Node
    {
        public Node(StateFixture fx)
        {
            Store = AllocationStore.Open(fx.State);
            Cooldown = IpCooldown.Open(fx.State, TimeSpan.FromSeconds(30));
            Teardown = TeardownQueue.Open(fx.State, (job, _) =>
            {
                Done.Add(job);
                return Task.CompletedTask;
            }, new TeardownQueueOptions { InitialBackoff = TimeSpan.Zero });
            var self = new InstanceIdentity("i-1", "m5.large", "us-east-1a", "us-east-1", "eni-0", Mac(0), "subnet-1", Subnet, ["sg-1"], "vpc-1", [Subnet]);
            Pool = new EniPool(self, new InstanceLimits("m5.large", 2, 2), Store, Cooldown, Teardown, new FakeNodeDevices(), fx.Log);
            Pool.Load([Eni(0, Ip), Eni(1)]);
            var refiller = new Refiller(Pool, null!, new RefillerOptions { Cluster = "c", NodeName = "n" }, fx.Log, fx.Time);
            Allocator = new PoolAllocator(Pool, refiller, Teardown, new PoolAllocatorOptions { Timeout = TimeSpan.Zero }, fx.Time);
            Service = new AllocationService(Store, Cooldown, Teardown, fx.Log, fx.Time) { AllocateNew = Allocator.AllocateAsync };
            Release = new AttachmentRelease(Store, Cooldown, Teardown, fx.Log);
        }

        public AllocationStore Store { get; }
        public IpCooldown Cooldown { get; }
        public TeardownQueue Teardown { get; }
        public EniPool Pool { get; }
        public PoolAllocator Allocator { get; }
        public AllocationService Service { get; }
        public AttachmentRelease Release { get; }
        public List<TeardownJob> Done { get; } = [];

        public Task<AgentReply> Add(string pod, AllocationMode mode) => Service.AllocateAsync(new AllocateRequest
        {
            Network = "net", ContainerId = pod, IfName = "eth0", RequestedMode = mode, NetnsPath = PodNetns,
        }, default).AsTask();

        public Task<AgentReply> Del(string pod) =>
            Service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = pod, IfName = "eth0" }, default).AsTask();
    }

    private static PhysicalAddress Mac(int i) => PhysicalAddress.Parse($"02-00-00-00-00-{i:x2}");

    private static Eni Eni(int index, params string[] secondary) => new($"eni-{index}", Mac(index), IPAddress.Parse($"10.0.1.{10 + index}"),
        [.. secondary.Select(IPAddress.Parse)], "subnet-1", Subnet, ["sg-1"], EniAttachmentState.Attached, $"attach-{index}", "i-1", index, "", new Dictionary<string, string>());

    /// <summary>Makes the <paramref name="n"/>-th durable-write step from now throw, as a SIGKILL there would stop the agent.</summary>
    private void CrashAtStep(int n)
    {
        var seen = 0;
        _fx.State.CrashPoint = step =>
        {
            if (seen++ == n) throw new SimulatedCrash(step);
        };
    }

    /// <summary>What a SIGKILL and a start do: the old objects abandoned, a new agent reading the state.</summary>
    private async Task RestartAsync()
    {
        _fx.State.CrashPoint = null;
        await _node.Teardown.DisposeAsync();
        _fx.Restart();
        _node = new Node(_fx);
    }

    private static string IpOf(AgentReply reply) => Assert.IsType<AllocatedReply>(reply).Allocation.Ip;

    private static void TryAgainLater(AgentReply reply) => Assert.Equal(AgentErrorCode.TryAgainLater, Assert.IsType<ErrorReply>(reply).Code);

    // A shared ADD writes once (the allocation, committed: AllocationStore.Grant), 4 steps:
    // write-temporary, fsync-temporary, rename, fsync-directory. The write counts once renamed; 4 is
    // "killed after the reply was sent".
    public static TheoryData<int, bool> AddCrashSteps()
    {
        var data = new TheoryData<int, bool>();
        foreach (var step in Enumerable.Range(0, 5))
            foreach (var freedByDel in new[] { true, false })
                data.Add(step, freedByDel);
        return data;
    }

    [Theory]
    [MemberData(nameof(AddCrashSteps))]
    public async Task Killed_at_any_step_of_an_ADD_the_IP_is_never_given_twice_and_is_freed_by_DEL_or_by_reconcile(int step, bool freedByDel)
    {
        if (step < 4)
        {
            CrashAtStep(step);
            await Assert.ThrowsAsync<SimulatedCrash>(() => _node.Add("a", AllocationMode.Shared));
        }
        else
        {
            Assert.Equal(Ip, IpOf(await _node.Add("a", AllocationMode.Shared)));
        }
        await RestartAsync();

        var recorded = step >= 3; // the record's rename happened
        Assert.Equal(recorded, _node.Store.TryGet(new AttachmentKey("net", "a", "eth0"), out var record));
        if (recorded)
            Assert.Equal(AllocationState.Committed, record!.State);
        if (!recorded)
        {
            // Nothing was recorded, so nothing acted on it: the IP is free for the next pod.
            Assert.Equal(Ip, IpOf(await _node.Add("b", AllocationMode.Shared)));
            return;
        }
        // Held: never handed to another pod, however long it waits.
        _fx.Time.Advance(TimeSpan.FromMinutes(10));
        TryAgainLater(await _node.Add("b", AllocationMode.Shared));

        if (freedByDel)
            Assert.IsType<DoneReply>(await _node.Del("a")); // the runtime's DEL of the sandbox whose ADD failed
        else
            Assert.Single(_node.Release.ReleaseGone(path => path == PodNetns ? false : null)); // reconcile: the runtime deleted the netns
        Assert.False(_node.Store.TryGet(new AttachmentKey("net", "a", "eth0"), out _));
        TryAgainLater(await _node.Add("b", AllocationMode.Shared)); // cooling, its teardown pending
        _fx.Time.Advance(TimeSpan.FromSeconds(31));
        TryAgainLater(await _node.Add("b", AllocationMode.Shared)); // cooled, but its rules are not removed yet
        _node.Teardown.Start();
        Eventually.True(() => _node.Teardown.Pending().Count == 0, "the teardown to run");
        var job = Assert.Single(_node.Done);
        Assert.Equal((TeardownAction.DeleteVeth, Ip, 100, PodNetns), (job.Action, job.PodIp, job.RouteTable, job.NetnsPath));
        Assert.Equal(Ip, IpOf(await _node.Add("b", AllocationMode.Shared)));
    }

    // A shared DEL writes the cooldown (4 steps), the teardown job (4 steps), then removes the
    // record (delete, fsync-directory): killed before the removal, the allocation is still held.
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    public async Task Killed_at_any_step_of_a_DEL_the_IP_is_held_until_a_DEL_completes_and_comes_back_once(int step)
    {
        Assert.Equal(Ip, IpOf(await _node.Add("a", AllocationMode.Shared)));
        CrashAtStep(step);
        await Assert.ThrowsAsync<SimulatedCrash>(() => _node.Del("a"));
        await RestartAsync();

        var held = step < 9; // the record's unlink happened at step 8 ("delete" throws before it)
        Assert.Equal(held, _node.Store.TryGet(new AttachmentKey("net", "a", "eth0"), out _));
        TryAgainLater(await _node.Add("b", AllocationMode.Shared));
        // The runtime retries DEL until it succeeds (done at once when the first one got through).
        Assert.IsType<DoneReply>(await _node.Del("a"));
        _fx.Time.Advance(TimeSpan.FromSeconds(31));
        _node.Teardown.Start();
        Eventually.True(() => _node.Teardown.Pending().Count == 0, "the teardowns to run");
        Assert.All(_node.Done, job => Assert.Equal(Ip, job.PodIp)); // a job recorded before the crash runs too: idempotent
        Assert.NotEmpty(_node.Done);
        Assert.Equal(Ip, IpOf(await _node.Add("b", AllocationMode.Shared)));
        TryAgainLater(await _node.Add("c", AllocationMode.Shared));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task Killed_during_an_underlay_ADD_the_ENI_is_never_given_twice_and_reconcile_returns_it(int step)
    {
        if (step < 4)
        {
            CrashAtStep(step);
            await Assert.ThrowsAsync<SimulatedCrash>(() => _node.Add("u", AllocationMode.Underlay));
        }
        else
        {
            Assert.Equal("eni-1", Assert.IsType<UnderlayAllocation>(Assert.IsType<AllocatedReply>(await _node.Add("u", AllocationMode.Underlay)).Allocation).EniId);
        }
        await RestartAsync();
        if (step < 3)
        {
            Assert.IsType<AllocatedReply>(await _node.Add("v", AllocationMode.Underlay));
            return;
        }
        TryAgainLater(await _node.Add("v", AllocationMode.Underlay));
        Assert.Single(_node.Release.ReleaseGone(path => path == PodNetns ? false : null));
        TryAgainLater(await _node.Add("v", AllocationMode.Underlay)); // its return is pending: not warm yet
        _node.Teardown.Start();
        Eventually.True(() => _node.Teardown.Pending().Count == 0, "the return to run");
        Assert.Equal((TeardownAction.ReturnEni, "02:00:00:00:00:01"), (_node.Done.Single().Action, _node.Done.Single().Mac));
        Assert.IsType<AllocatedReply>(await _node.Add("v", AllocationMode.Underlay));
    }

    [Fact]
    public async Task Reconcile_keeps_allocations_whose_pod_lives_or_cannot_be_seen()
    {
        Assert.Equal(Ip, IpOf(await _node.Add("a", AllocationMode.Shared)));
        Assert.Empty(_node.Release.ReleaseGone(_ => true));   // the netns exists
        Assert.Empty(_node.Release.ReleaseGone(_ => null));   // not visible to the agent: never taken for gone
        Assert.True(_node.Store.TryGet(new AttachmentKey("net", "a", "eth0"), out _));
        Assert.Single(_fx.Events("allocation.committed"));
        Assert.Empty(_fx.Events("reconcile.pod-gone"));
        Assert.Single(_node.Release.ReleaseGone(_ => false));
        Assert.Single(_fx.Events("reconcile.pod-gone"));
    }
}
