using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Sticky;
using Fathom.Agent.Teardown;
using Fathom.Agent.Tests.Pools;
using Fathom.Cloud;
using Fathom.Lab.Ec2;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Agent.Tests.Sticky;

/// <summary>
/// What the tests of both sticky kinds (<see cref="StickyEnisTests"/>, <see cref="StickyIpsTests"/>) stand on:
/// two m5.xlarge instances of the lab's EC2 (in-process, reached through the real AWS provider), a fake clock
/// for the sticky side (the pools run on the system clock, as <see cref="PoolNode"/> does), nodes started on
/// throwaway state directories and restarted on the same one (what a SIGKILL and a start do), all removed after.
/// </summary>
public abstract class StickyPodsTests<TRecord, TPhase, TAllocation> : IAsyncLifetime
    where TRecord : StickyPodRecord<TPhase>
    where TPhase : struct, Enum
    where TAllocation : Allocation
{
    private protected static readonly PodIdentity Web0 = new() { Namespace = "db", Name = "web-0", Uid = "u-1" };
    private readonly List<string> _dirs = [];
    private readonly List<StickyTestNode<TRecord, TPhase, TAllocation>> _nodes = [];

    private protected FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 6, 6, 0, 0, TimeSpan.Zero));
    private protected PoolLab Ec2 { get; private set; } = null!;
    private protected Instance Instance1 { get; private set; } = null!;
    private protected Instance Instance2 { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Ec2 = await PoolLab.StartAsync();
        Instance1 = await Ec2.LaunchAsync("m5.xlarge", "node-1");
        Instance2 = await Ec2.LaunchAsync("m5.xlarge", "node-2");
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
        await Ec2.DisposeAsync();
        foreach (var dir in _dirs) Directory.Delete(dir, recursive: true);
    }

    /// <summary>A node of this kind on <paramref name="cloud"/>, its sticky side on <see cref="Clock"/>.</summary>
    private protected abstract Task<StickyTestNode<TRecord, TPhase, TAllocation>> StartNodeAsync(ICloudProvider cloud, string stateDir, string name, StickyConfig config);

    private protected static StickyConfig Config(double handover = 20) =>
        new() { Namespaces = ["db"], Names = ["web-*"], RetentionSeconds = 600, HandoverTimeoutSeconds = handover };

    /// <summary>The options every test node's sticky side gets (cluster <c>test</c>).</summary>
    private protected static StickyEnisOptions Options(string name, StickyConfig config) => new() { Cluster = "test", NodeName = name, Config = config };

    private protected async Task<StickyTestNode<TRecord, TPhase, TAllocation>> StartAsync(Instance instance, string name, string? stateDir = null,
        StickyConfig? config = null)
    {
        if (stateDir is null)
        {
            stateDir = Directory.CreateTempSubdirectory("fs-sticky-").FullName;
            _dirs.Add(stateDir);
        }
        var node = await StartNodeAsync(Ec2.ProviderFor(instance), stateDir, name, config ?? Config());
        _nodes.Add(node);
        return node;
    }

    /// <summary>web-0 added on a node started on <paramref name="instance"/> and deleted there: what it got, now retained for it.</summary>
    private protected async Task<(StickyTestNode<TRecord, TPhase, TAllocation> Node, TAllocation First)> RetainedOnAsync(Instance instance, string name)
    {
        var node = await StartAsync(instance, name);
        var first = await node.AddAsync("c1", Web0);
        await node.DelAsync("c1");
        return (node, first);
    }

    /// <summary>
    /// web-0 retained on node-1 for its whole retention (still kept one second before its end), then node-1's pass
    /// at its end: node-1 and what web-0 had.
    /// </summary>
    private protected async Task<(StickyTestNode<TRecord, TPhase, TAllocation> Node, TAllocation First)> RetentionOverAsync()
    {
        var (node, first) = await RetainedOnAsync(Instance1, "node-1");
        Clock.Advance(TimeSpan.FromSeconds(599));
        await node.Sticky.TickAsync();
        Assert.NotNull(node.Sticky.Store.Get("db/web-0"));
        Clock.Advance(TimeSpan.FromSeconds(1));
        await node.Sticky.TickAsync();
        return (node, first);
    }

    /// <summary>
    /// web-0 running on node-1 (its tags written) and asked for on node-2, which does not wait for a release:
    /// node-2, what web-0 has on node-1, and node-2's reply — code 11, try again later.
    /// </summary>
    private protected async Task<(StickyTestNode<TRecord, TPhase, TAllocation> Node2, TAllocation First, ErrorReply Reply)> ClaimedWhileRunningAsync()
    {
        var node1 = await StartAsync(Instance1, "node-1");
        var node2 = await StartAsync(Instance2, "node-2", config: Config(handover: 0));
        var first = await node1.AddAsync("c1", Web0);
        await node1.Sticky.TickAsync();
        var reply = Assert.IsType<ErrorReply>(await node2.AllocateAsync("c2", Web0));
        Assert.Equal(AgentErrorCode.TryAgainLater, reply.Code);
        return (node2, first, reply);
    }

    /// <summary>
    /// web-0 retained on node-1 past its retention, the agent killed at the expiry's first step (its record as the
    /// crash left it) and started again: the restarted node and what web-0 had.
    /// </summary>
    private protected async Task<(StickyTestNode<TRecord, TPhase, TAllocation> Node, TAllocation First, TRecord Crashed)> ExpiryKilledAndRestartedAsync()
    {
        var (node, first) = await RetainedOnAsync(Instance1, "node-1");
        Clock.Advance(TimeSpan.FromSeconds(600));
        CrashAt(node, "expire");
        await Assert.ThrowsAsync<SimulatedCrash>(() => node.Sticky.TickAsync());
        var crashed = node.Sticky.Store.Get("db/web-0")!;
        return (await RestartAsync(node, Instance1), first, crashed);
    }

    /// <summary>
    /// web-0 retained on node-1 and claimed by node-2, whose agent is killed at <paramref name="step"/> of the hand-over
    /// and started again; then both nodes reconcile (which must sweep nothing of web-0's away): both nodes and what web-0 had.
    /// </summary>
    private protected async Task<(StickyTestNode<TRecord, TPhase, TAllocation> Node1, StickyTestNode<TRecord, TPhase, TAllocation> Node2, TAllocation First)>
        HandOverKilledAtAsync(string step)
    {
        var (node1, first) = await RetainedOnAsync(Instance1, "node-1");
        var node2 = await StartAsync(Instance2, "node-2");
        CrashAt(node2, step);
        await Assert.ThrowsAsync<SimulatedCrash>(async () => await node2.AllocateAsync("c2", Web0));
        node2 = await RestartAsync(node2, Instance2);
        await node1.ReconcileAsync();
        await node2.ReconcileAsync();
        return (node1, node2, first);
    }

    /// <summary>What a SIGKILL and a start do: the node's objects dropped as they are, new ones on the same state directory, recovered.</summary>
    private protected async Task<StickyTestNode<TRecord, TPhase, TAllocation>> RestartAsync(StickyTestNode<TRecord, TPhase, TAllocation> node, Instance instance)
    {
        await node.DisposeAsync();
        _nodes.Remove(node);
        var restarted = await StartAsync(instance, node.Name, node.StateDir);
        await restarted.Sticky.RecoverAsync();
        return restarted;
    }

    /// <summary>
    /// Asserts that <paramref name="node"/>, at its next look at what the cloud still shows on it (5 s on), forgets
    /// web-0's record: another node has what was kept for it.
    /// </summary>
    private protected async Task AssertForgottenAsync(StickyTestNode<TRecord, TPhase, TAllocation> node)
    {
        Clock.Advance(TimeSpan.FromSeconds(5));
        await node.Sticky.TickAsync();
        Assert.Null(node.Sticky.Store.Get("db/web-0"));
    }

    /// <summary>From now on every call of <paramref name="actions"/> takes effect in the lab's EC2 and is answered 500.</summary>
    private protected void LoseEveryAnswerOf(params string[] actions)
    {
        foreach (var action in actions) Ec2.Faults.SetLostAnswerRate(1.0, action);
    }

    /// <summary>Makes <paramref name="node"/>'s sticky side crash (throw <see cref="SimulatedCrash"/>) at <paramref name="step"/>.</summary>
    private protected static void CrashAt(StickyTestNode<TRecord, TPhase, TAllocation> node, string step) =>
        node.Sticky.CrashPoint = s => { if (s == step) throw new SimulatedCrash(); };

    private protected Fathom.Lab.Ec2.NetworkInterface Lab(string eniId)
    {
        Assert.True(Ec2.Cloud.TryGetEni(eniId, out var eni), $"{eniId} no longer exists in the lab's EC2");
        return eni;
    }
}

internal sealed class SimulatedCrash : Exception;

/// <summary>A <see cref="PoolNode"/> with one kind of sticky pods over its state directory, and the DEL of the agent's service.</summary>
internal sealed class StickyTestNode<TRecord, TPhase, TAllocation> : IAsyncDisposable
    where TRecord : StickyPodRecord<TPhase>
    where TPhase : struct, Enum
    where TAllocation : Allocation
{
    private readonly PoolNode _node;
    private readonly AllocationMode _mode;

    private StickyTestNode(PoolNode node, AllocationMode mode, StickyPods<TRecord, TPhase> sticky, string stateDir, string name)
    {
        _node = node;
        _mode = mode;
        Sticky = sticky;
        StateDir = stateDir;
        Name = name;
    }

    public StickyPods<TRecord, TPhase> Sticky { get; }
    public string StateDir { get; }
    public string Name { get; }
    public EniPool Pool => _node.Pool;
    public PoolAllocator Allocator => _node.Allocator;
    public Refiller Refiller => _node.Refiller;
    public IpCooldown Cooldown => _node.Cooldown;

    /// <summary>
    /// Starts the pool, makes its sticky side (<paramref name="sticky"/>: before the first reconcile, as NodePools
    /// does, so what the records keep is never the pool's to give), then waits until <paramref name="ready"/>.
    /// </summary>
    public static async Task<StickyTestNode<TRecord, TPhase, TAllocation>> StartAsync(ICloudProvider cloud, string stateDir, string name, AllocationMode mode,
        PoolTargets targets, Func<PoolNode, StickyPods<TRecord, TPhase>> sticky, Func<PoolSnapshot, bool> ready, string readyWhat)
    {
        var node = await PoolNode.StartAsync(cloud, stateDir, targets, AgentLog.None, node: name, start: false);
        var kind = sticky(node);
        await node.Refiller.StartAsync();
        await node.UntilAsync(ready, readyWhat);
        return new StickyTestNode<TRecord, TPhase, TAllocation>(node, mode, kind, stateDir, name);
    }

    public ValueTask<AgentReply> AllocateAsync(string containerId, PodIdentity pod) =>
        _node.Allocator.AllocateAsync(new AllocateRequest
        {
            Network = "net", ContainerId = containerId, IfName = "eth0", RequestedMode = _mode, Pod = pod,
            NetnsPath = "/var/run/netns/" + containerId,
        }, CancellationToken.None);

    public async Task<TAllocation> AddAsync(string containerId, PodIdentity pod)
    {
        var reply = await AllocateAsync(containerId, pod);
        if (reply is ErrorReply error) Assert.Fail($"ADD of {pod.Namespace}/{pod.Name} failed: {error.Code} {error.Message}");
        return Assert.IsType<TAllocation>(Assert.IsType<AllocatedReply>(reply).Allocation);
    }

    /// <summary>The DEL as the agent's service does it, its teardown (the ENI's return, the pod's rules) done, then one pass of the sticky loop.</summary>
    public async Task DelAsync(string containerId)
    {
        Assert.True(new AttachmentRelease(_node.Store, _node.Cooldown, _node.Teardown, AgentLog.None).Release(new AttachmentKey("net", containerId, "eth0")));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (_node.Teardown.Pending().Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(5);
        await Sticky.TickAsync();
    }

    public Task ReconcileAsync() => _node.Refiller.ReconcileAsync();

    public async ValueTask DisposeAsync()
    {
        await Sticky.DisposeAsync();
        await _node.DisposeAsync();
    }
}
