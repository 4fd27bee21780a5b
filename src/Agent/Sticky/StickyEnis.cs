using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

/// <summary>What <see cref="StickyEnis"/> needs besides the pool and the cloud.</summary>
public sealed record StickyEnisOptions
{
    /// <summary>The cluster tag: a sticky ENI is looked up among this cluster's ENIs only.</summary>
    public required string Cluster { get; init; }

    /// <summary>This node's name (the node tag of the ENIs it holds).</summary>
    public required string NodeName { get; init; }

    /// <summary>Which pods are sticky, the retention, the hand-over bound.</summary>
    public required StickyConfig Config { get; init; }

    /// <summary>An underlay pod's MTU.</summary>
    public int Mtu { get; init; } = 9001;

    /// <summary>How attaches and detaches are waited for (as the refiller's).</summary>
    public AttachmentWaitOptions AttachmentWait { get; init; } = new();

    /// <summary>How long an ADD waits for a sticky ENI attached here to show its device (udev) or finish its last return.</summary>
    public TimeSpan DeviceWait { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Sticky ENIs (issue 11 §3, docs/agent.md "Sticky ENIs"): a sticky pod's ENI is tagged with the
/// pod's identity and outlives the pod. On its DEL the ENI goes back to the node as any underlay
/// ENI does, then is retained for the pod (never warm, never released by the planner) and tagged
/// released; the same pod back here takes it again; the pod on another node makes that node's agent
/// find it by tag, wait until it is released, detach it from the old instance and attach it to its
/// own — same MAC, IP and security groups. A retained ENI whose pod does not come back within the
/// retention is detached and deleted. Every step is recorded (<see cref="StickyStore"/>) before the
/// cloud call it leads to, so an agent killed anywhere resumes or rolls back on restart
/// (<see cref="SettleAsync"/>): never a lost ENI, never one attached twice (EC2 refuses that anyway).
/// </summary>
public sealed partial class StickyEnis : IStickyEnis, IAsyncDisposable
{

    private readonly EniPool _pool;
    private readonly ICloudProvider _cloud;
    private readonly AllocationStore _allocations;
    private readonly TeardownQueue _teardown;
    private readonly StickyEnisOptions _options;
    private readonly AgentLog _log;
    private readonly TimeProvider _time;
    private readonly StickyGates _gates;
    private readonly WakeableLoop _loop = new();
    private DateTimeOffset _nextCheck;

    /// <summary>Sticky ENIs of <paramref name="pool"/>'s node; from now on the pool keeps the recorded ENIs out of its own use.</summary>
    public StickyEnis(EniPool pool, ICloudProvider cloud, StickyStore store, AllocationStore allocations, TeardownQueue teardown,
        StickyEnisOptions options, AgentLog log, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(cloud);
        ArgumentNullException.ThrowIfNull(options);
        _pool = pool;
        _cloud = cloud;
        Store = store;
        _allocations = allocations;
        _teardown = teardown;
        _options = options;
        _log = log;
        _time = time ?? TimeProvider.System;
        _gates = new StickyGates(_time);
        _pool.Reserved = IsReserved;
        _pool.Changed += Wake;
    }

    /// <summary>The durable records.</summary>
    public StickyStore Store { get; }

    /// <summary>Test hook: called with a step name before each cloud call of a hand-over or expiry; throwing there is a crash.</summary>
    internal Action<string>? CrashPoint { get; set; }

    private string Self => _pool.Self.InstanceId;

    /// <inheritdoc/>
    public bool Claims(AllocateRequest request) => _options.Config.Matches(request?.Pod);

    /// <summary>Whether the pool must keep <paramref name="eniId"/> out of its own use.</summary>
    public bool IsReserved(string eniId)
    {
        if (Store.Names(eniId)) return true;
        return _gates.IsGone(eniId);
    }

    /// <summary>Settles what a previous run left half done (hand-overs, expiries), then starts the background loop.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await RecoverAsync(cancellationToken).ConfigureAwait(false);
        _loop.StartPasses(TickAsync, TimeSpan.FromSeconds(Math.Min(1, _options.Config.CheckIntervalSeconds)), _time,
            e => _log.Warning("sticky.tick-failed", $"sticky ENIs: {e.Message}; retried", ("error", e.Message)));
    }

    /// <summary>Settles every record that is not local (<see cref="SettleAsync"/>); a cloud failure leaves it to the loop.</summary>
    internal async Task RecoverAsync(CancellationToken cancellationToken = default)
    {
        foreach (var record in Store.All().Where(r => !r.IsLocal))
        {
            try
            {
                await SettleAsync(record, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e)
            {
                _log.Warning("sticky.settle-failed", $"settling {record.Identity}'s {record.EniId} ({record.Phase}) failed, retried in the background: {e.Reason}",
                    ("pod", record.Identity), ("eni", record.EniId), ("error", e.Message));
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask<AgentReply> AllocateAsync(AllocateRequest request, Func<CancellationToken, ValueTask<AgentReply>> fromPool,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(fromPool);
        var pod = request.Pod ?? throw new ArgumentException("a sticky pod has a name", nameof(request));
        var identity = EniTags.StickyValue(pod.Namespace, pod.Name);
        var gate = _gates.Of(identity);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await AllocateLockedAsync(identity, request, fromPool, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e)
        {
            return TryAgain($"sticky ENI of {identity}: {e.Reason}");
        }
        catch (StickyHandoverException e)
        {
            return TryAgain(e.Message);
        }
        catch (AllocationConflictException e)
        {
            return new ErrorReply { Code = AgentErrorCode.InvalidConfig, Message = $"fathom-agent cannot record {identity}'s sticky ENI: {e.Message}" };
        }
        catch (IOException e)
        {
            return new ErrorReply { Code = AgentErrorCode.IoFailure, Message = $"fathom-agent cannot write its state while giving {identity} its sticky ENI: {e.Message}" };
        }
        finally
        {
            gate.Release();
            Wake();
        }
    }

    // Where the pod's ENI is comes from the cloud, never from the record alone: another node may have
    // taken a retained ENI before this node's check noticed (the record and the pool's entry are then stale).
    private async ValueTask<AgentReply> AllocateLockedAsync(string identity, AllocateRequest request,
        Func<CancellationToken, ValueTask<AgentReply>> fromPool, CancellationToken cancellationToken)
    {
        var record = Store.Get(identity);
        var found = await FindAsync(identity, cancellationToken).ConfigureAwait(false);
        if (found is null)
        {
            if (record is not null)
                Forget(record, "the cloud has no ENI tagged for it any more");
            return await FirstTimeAsync(identity, request, fromPool, cancellationToken).ConfigureAwait(false);
        }
        if (record is not null && (record.EniId != found.EniId || (record.IsLocal && found.InstanceId != Self)))
            Forget(record, found.InstanceId is { } other ? $"it is attached to {other} now" : "it is detached now");
        if (found.InstanceId == Self && found.AttachmentState == EniAttachmentState.Attached)
        {
            if (_pool.Find(found.EniId) is null) _pool.Add(found);
            if (Store.Get(identity) is not { IsLocal: true } local)
                local = Store.Put(NewRecord(request.Pod!, found.EniId, StickyPhase.Retained) with { ReleasedAt = _time.GetUtcNow() });
            return await TakeLocalAsync(local, request, cancellationToken).ConfigureAwait(false);
        }
        record = await HandOverAsync(request.Pod!, found, cancellationToken).ConfigureAwait(false);
        return await TakeLocalAsync(record, request, cancellationToken).ConfigureAwait(false);
    }

    // The pod's first ADD (or its first since its ENI was deleted): an ENI from the pool, which becomes its own.
    // Tagging runs in the background (TagsInSync false): the ADD does not wait for a cloud call.
    private async ValueTask<AgentReply> FirstTimeAsync(string identity, AllocateRequest request,
        Func<CancellationToken, ValueTask<AgentReply>> fromPool, CancellationToken cancellationToken)
    {
        var reply = await fromPool(cancellationToken).ConfigureAwait(false);
        if (reply is AllocatedReply { Allocation: UnderlayAllocation underlay })
        {
            Store.Put(NewRecord(request.Pod!, underlay.EniId, StickyPhase.Held));
            _log.Info("sticky.bound", $"{underlay.EniId} ({underlay.Address}) is now {identity}'s sticky ENI", ("pod", identity), ("eni", underlay.EniId));
        }
        return reply;
    }

    // The pod's own ENI, attached here: recorded held, the released tag removed (no other node may take it
    // now), then taken once its device is there and its return from the last pod done.
    private async ValueTask<AgentReply> TakeLocalAsync(StickyRecord record, AllocateRequest request, CancellationToken cancellationToken)
    {
        record = Store.Put(record with { Phase = StickyPhase.Held, ReleasedAt = null, TagsInSync = false });
        await _cloud.DeleteTagsAsync(record.EniId, [EniTags.StickyReleased], cancellationToken).ConfigureAwait(false);
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        var deadline = _time.GetUtcNow() + _options.DeviceWait;
        while (true)
        {
            if (_pool.Find(record.EniId)?.HostDevice is { } device && _teardown.IsPending(device))
                await WaitBoundedAsync(_teardown.WaitForDeviceAsync(device, cancellationToken), deadline, cancellationToken).ConfigureAwait(false);
            if (_pool.TryTakeSticky(key, record.EniId, _options.Mtu, request.Pod, request.NetnsPath) is { } allocation)
            {
                _pool.Notify();
                _log.Info("sticky.taken", $"{record.Identity} has its sticky ENI {record.EniId} ({allocation.Address}) again",
                    ("pod", record.Identity), ("eni", record.EniId), ("ip", allocation.Ip));
                return new AllocatedReply { Allocation = allocation };
            }
            if (_time.GetUtcNow() >= deadline)
                throw new StickyHandoverException($"{record.Identity}'s sticky ENI {record.EniId} is attached to this node but not usable after "
                    + $"{_options.DeviceWait.TotalSeconds:0.#} s: {WhyNotUsable(record.EniId)}");
            _pool.PrepareDevices();
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private string WhyNotUsable(string eniId) => _pool.Find(eniId) switch
    {
        null => "the pool does not list it",
        { HostDevice: null } e => $"no device with its MAC {e.Mac} on the node yet",
        _ when _allocations.IsEniInUse(eniId) => "another attachment holds it",
        { HostDevice: { } device } => $"its device {device} is still being returned from its last pod",
    };

    private async Task WaitBoundedAsync(Task task, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var left = deadline - _time.GetUtcNow();
        if (left <= TimeSpan.Zero) return;
        await Task.WhenAny(task, Task.Delay(left, _time, cancellationToken)).ConfigureAwait(false);
    }

    // The ENI tagged for the pod in this cluster; if a crash left two, the one here, else the last released.
    private async Task<Eni?> FindAsync(string identity, CancellationToken cancellationToken)
    {
        var found = await _cloud.DescribeEnisAsync(EniQuery.ByTags(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [EniTags.Cluster] = _options.Cluster,
            [EniTags.Sticky] = identity,
        }), cancellationToken).ConfigureAwait(false);
        if (found.Count > 1)
            _log.Warning("sticky.ambiguous", $"{found.Count} ENIs are tagged for {identity} ({string.Join(", ", found.Select(e => e.EniId))}); using one, the others retire",
                ("pod", identity));
        return found.OrderByDescending(e => e.InstanceId == Self)
            .ThenByDescending(e => EniTags.StickyReleasedAt(e.Tags) ?? DateTimeOffset.MinValue)
            .FirstOrDefault();
    }

    private StickyRecord NewRecord(PodIdentity pod, string eniId, StickyPhase phase) =>
        new() { Namespace = pod.Namespace, Name = pod.Name, EniId = eniId, Phase = phase };

    /// <summary>Drops a record whose ENI is no longer this node's (taken by another node, or gone); the pool lets go of it.</summary>
    private void Forget(StickyRecord record, string why)
    {
        _gates.MarkGone(record.EniId);
        _pool.Remove(record.EniId);
        Store.Remove(record.Identity);
        _log.Info("sticky.forgotten", $"{record.Identity}'s sticky ENI {record.EniId} is no longer this node's: {why}",
            ("pod", record.Identity), ("eni", record.EniId));
        _pool.Notify();
    }


    private void Crash(string step) => CrashPoint?.Invoke(step);

    private static ErrorReply TryAgain(string message) => new() { Code = AgentErrorCode.TryAgainLater, Message = message };

    /// <summary>Wakes the background loop (a DEL done, a teardown finished).</summary>
    public void Wake() => _loop.Wake();

    /// <summary>Stops the loop; what is half done is on disk for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        _pool.Changed -= Wake;
        await _loop.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>A sticky pod's ENI cannot be given now (not released in time, not usable yet): the ADD fails with code 11 and says why.</summary>
public sealed class StickyHandoverException(string message) : Exception(message);
