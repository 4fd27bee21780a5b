using System.Net;
using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Cloud;
using Fathom.Datapath;

namespace Fathom.Agent.Sticky;

/// <summary>
/// Sticky shared pods (issue 11 §3, docs/agent.md "Sticky pods"): the IP of a sticky pod served in
/// shared mode outlives the pod. The ENI holding it carries a tag named after the pod
/// (<see cref="EniTags.StickyIpKey"/>, value <see cref="StickyIpTag"/>); on the pod's DEL the IP is
/// not given back to the pool but retained for the pod (never free, never unassigned) and its tag
/// marked released; the same pod back here takes it again; the pod on another node makes that node's
/// agent find the IP by its tag, wait until it is released, and move it onto one of its own ENIs in
/// the same subnet with one AssignPrivateIpAddresses(AllowReassignment) call — EC2 never lets one
/// address sit on two ENIs, so the move is atomic. The old node sees the IP gone from its ENI and
/// forgets it without a cloud call (it must never unassign what another node now holds). A retained
/// IP whose pod does not come back within the retention goes back to this node's pool through the
/// cooldown. Every step is recorded (<see cref="StickyIpStore"/>) before the cloud call it leads to,
/// so an agent killed anywhere resumes or rolls back on restart (<see cref="SettleAsync"/>).
/// </summary>
public sealed partial class StickyIps : IStickyEnis, IAsyncDisposable
{

    private readonly EniPool _pool;
    private readonly ICloudProvider _cloud;
    private readonly AllocationStore _allocations;
    private readonly IpCooldown _cooldown;
    private readonly TeardownQueue _teardown;
    private readonly StickyEnisOptions _options;
    private readonly AgentLog _log;
    private readonly TimeProvider _time;
    private readonly StickyGates _gates;
    private readonly WakeableLoop _loop = new();
    private DateTimeOffset _nextCheck;

    /// <summary>Sticky IPs of <paramref name="pool"/>'s node; from now on the pool keeps the recorded IPs out of its own use.</summary>
    public StickyIps(EniPool pool, ICloudProvider cloud, StickyIpStore store, AllocationStore allocations, IpCooldown cooldown,
        TeardownQueue teardown, StickyEnisOptions options, AgentLog log, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(cloud);
        ArgumentNullException.ThrowIfNull(options);
        _pool = pool;
        _cloud = cloud;
        Store = store;
        _allocations = allocations;
        _cooldown = cooldown;
        _teardown = teardown;
        _options = options;
        _log = log;
        _time = time ?? TimeProvider.System;
        _gates = new StickyGates(_time);
        _pool.ReservedIp = IsReserved;
        _pool.Changed += Wake;
    }

    /// <summary>The durable records.</summary>
    public StickyIpStore Store { get; }

    /// <summary>Test hook: called with a step name before each cloud call of a hand-over or expiry; throwing there is a crash.</summary>
    internal Action<string>? CrashPoint { get; set; }

    private string Self => _pool.Self.InstanceId;

    /// <inheritdoc/>
    public bool Claims(AllocateRequest request) => _options.Config.Matches(request?.Pod);

    /// <summary>Whether the pool must keep <paramref name="ip"/> out of its own use.</summary>
    public bool IsReserved(string ip)
    {
        if (Store.Names(ip)) return true;
        return _gates.IsGone(ip);
    }

    /// <summary>Settles what a previous run left half done (hand-overs, expiries), then starts the background loop.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await RecoverAsync(cancellationToken).ConfigureAwait(false);
        _loop.StartPasses(TickAsync, TimeSpan.FromSeconds(Math.Min(1, _options.Config.CheckIntervalSeconds)), _time,
            e => _log.Warning("sticky.tick-failed", $"sticky IPs: {e.Message}; retried", ("error", e.Message)));
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
                _log.Warning("sticky.settle-failed", $"settling {record.Identity}'s IP {record.Ip} ({record.Phase}) failed, retried in the background: {e.Reason}",
                    ("pod", record.Identity), ("ip", record.Ip), ("error", e.Message));
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
        var key = EniTags.StickyIpKey(pod.Namespace, pod.Name);
        if (key.Length > EniTags.MaxKeyLength)
            return new ErrorReply
            {
                Code = AgentErrorCode.InvalidConfig,
                Message = $"{identity} matches pools.sticky but its IP cannot follow it: the tag key {key} would be {key.Length} characters and EC2 allows "
                    + $"{EniTags.MaxKeyLength} (namespace and name together at most {EniTags.MaxKeyLength - EniTags.StickyIpPrefix.Length - 1})",
            };
        var gate = _gates.Of(identity);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await AllocateLockedAsync(identity, request, fromPool, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e)
        {
            return TryAgain($"sticky IP of {identity}: {e.Reason}");
        }
        catch (StickyHandoverException e)
        {
            return TryAgain(e.Message);
        }
        catch (AllocationConflictException e)
        {
            return new ErrorReply { Code = AgentErrorCode.InvalidConfig, Message = $"fathom-agent cannot record {identity}'s sticky IP: {e.Message}" };
        }
        catch (IOException e)
        {
            return new ErrorReply { Code = AgentErrorCode.IoFailure, Message = $"fathom-agent cannot write its state while giving {identity} its sticky IP: {e.Message}" };
        }
        finally
        {
            gate.Release();
            Wake();
        }
    }

    // Where the pod's IP is comes from the cloud, never from the record alone: another node may have
    // taken a retained IP before this node's check noticed (the record and the pool's entry are then stale).
    private async ValueTask<AgentReply> AllocateLockedAsync(string identity, AllocateRequest request,
        Func<CancellationToken, ValueTask<AgentReply>> fromPool, CancellationToken cancellationToken)
    {
        var pod = request.Pod!;
        var record = Store.Get(identity);
        var found = await FindAsync(pod, cancellationToken).ConfigureAwait(false);
        if (found is null)
        {
            if (record is not null)
                Forget(record, "the cloud has no ENI tagged with it any more");
            return await FirstTimeAsync(identity, request, fromPool, cancellationToken).ConfigureAwait(false);
        }
        var (eni, tag) = found.Value;
        if (record is not null && (record.Ip != tag.Ip || (record.IsLocal && eni.InstanceId != Self)))
            Forget(record, eni.InstanceId is { } other ? $"{tag.Ip} is on {eni.EniId} of {other} now" : $"{tag.Ip} is on the detached {eni.EniId} now");
        if (eni.InstanceId == Self)
        {
            if (Store.Get(identity) is not { IsLocal: true } local)
                local = Store.Put(NewRecord(pod, tag.Ip, eni.EniId, StickyIpPhase.Retained) with { ReleasedAt = _time.GetUtcNow() });
            return await TakeLocalAsync(local with { EniId = eni.EniId }, request, cancellationToken).ConfigureAwait(false);
        }
        record = await HandOverAsync(pod, eni, tag, cancellationToken).ConfigureAwait(false);
        return await TakeLocalAsync(record, request, cancellationToken).ConfigureAwait(false);
    }

    // The pod's first ADD (or its first since its IP went back to a pool): an IP from the pool, which becomes
    // its own — unless its ENI already carries all the sticky tags it can. Tagging runs in the background
    // (TagsInSync false): the ADD does not wait for a cloud call.
    private async ValueTask<AgentReply> FirstTimeAsync(string identity, AllocateRequest request,
        Func<CancellationToken, ValueTask<AgentReply>> fromPool, CancellationToken cancellationToken)
    {
        var reply = await fromPool(cancellationToken).ConfigureAwait(false);
        if (reply is not AllocatedReply { Allocation: SharedAllocation shared })
            return reply;
        if (Store.All().Count(r => r.EniId == shared.EniId) >= EniTags.MaxStickyIpsPerEni)
        {
            _log.Warning("sticky.tag-limit", $"{identity} gets {shared.Ip} of {shared.EniId} without keeping it: that ENI already holds "
                + $"{EniTags.MaxStickyIpsPerEni} sticky IPs, as many as EC2's {EniTags.MaxTagsPerEni} tags per ENI allow", ("pod", identity), ("eni", shared.EniId));
            return reply;
        }
        Store.Put(NewRecord(request.Pod!, shared.Ip, shared.EniId, StickyIpPhase.Held));
        _log.Info("sticky.bound", $"{shared.Ip} of {shared.EniId} is now {identity}'s sticky IP", ("pod", identity), ("eni", shared.EniId), ("ip", shared.Ip));
        return reply;
    }

    // The pod's own IP, on an ENI here: recorded held and tagged held (no other node may take it now), then
    // taken once its last pod's rules are gone.
    private async ValueTask<AgentReply> TakeLocalAsync(StickyIpRecord record, AllocateRequest request, CancellationToken cancellationToken)
    {
        record = Store.Put(record with { Phase = StickyIpPhase.Held, ReleasedAt = null, TagsInSync = false });
        _gates.Unmark(record.Ip); // this node's again (moved back): its record reserves it from now on
        await SyncTagsAsync(record, cancellationToken).ConfigureAwait(false);
        _pool.AddIps(record.EniId, [IPAddress.Parse(record.Ip)]); // the cloud says it is there; a reload may not have seen it yet
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        var hostVeth = NodeVeth.HostNameFor(request.ContainerId, request.IfName);
        var deadline = _time.GetUtcNow() + _options.DeviceWait;
        while (true)
        {
            if (_teardown.IsPending(hostVeth))
                await WaitBoundedAsync(_teardown.WaitForDeviceAsync(hostVeth, cancellationToken), deadline, cancellationToken).ConfigureAwait(false);
            if (_pool.TryTakeStickyIp(key, record.EniId, record.Ip, request.Pod, request.NetnsPath, hostVeth) is { } allocation)
            {
                _pool.Notify();
                _log.Info("sticky.taken", $"{record.Identity} has its sticky IP {record.Ip} ({record.EniId}) again",
                    ("pod", record.Identity), ("eni", record.EniId), ("ip", record.Ip));
                return new AllocatedReply { Allocation = allocation };
            }
            if (_time.GetUtcNow() >= deadline)
                throw new StickyHandoverException($"{record.Identity}'s sticky IP {record.Ip} is on {record.EniId} of this node but not usable after "
                    + $"{_options.DeviceWait.TotalSeconds:0.#} s: {WhyNotUsable(record)}");
            _pool.PrepareDevices();
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private string WhyNotUsable(StickyIpRecord record) => _pool.Find(record.EniId) switch
    {
        null => $"the pool does not list {record.EniId}",
        _ when _allocations.TryGetByIp(record.Ip, out var holder) => $"{holder!.Key} holds it",
        _ when _teardown.PendingPodIps().Contains(record.Ip) => "its last pod's rules are still being removed",
        { Primary: false, RoutingInstalled: false } e => $"the routing table of {e.EniId} is not installed yet (its device: {e.HostDevice ?? "not found"})",
        _ => $"{record.EniId} is held whole or being released",
    };

    private async Task WaitBoundedAsync(Task task, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var left = deadline - _time.GetUtcNow();
        if (left <= TimeSpan.Zero) return;
        await Task.WhenAny(task, Task.Delay(left, _time, cancellationToken)).ConfigureAwait(false);
    }

    // The ENI that holds the IP tagged for the pod in this cluster (a tag whose ENI no longer holds the IP is a
    // leftover of a move cut short: ignored); if a crash left two, the one here, else the last released.
    private async Task<(Eni Eni, StickyIpTag Tag)?> FindAsync(PodIdentity pod, CancellationToken cancellationToken)
    {
        var key = EniTags.StickyIpKey(pod.Namespace, pod.Name);
        var found = await _cloud.DescribeEnisAsync(EniQuery.ByTagKey(key), cancellationToken).ConfigureAwait(false);
        var holding = found
            .Select(e => (Eni: e, Tag: StickyIpTag.Parse(e.Tags.GetValueOrDefault(key))))
            .Where(c => c.Tag is not null && c.Tag.Cluster == _options.Cluster && c.Eni.SecondaryIps.Any(ip => ip.ToString() == c.Tag.Ip))
            .Select(c => (c.Eni, Tag: c.Tag!))
            .ToList();
        if (holding.Count > 1)
            _log.Warning("sticky.ambiguous", $"{holding.Count} ENIs hold an IP tagged for {pod.Namespace}/{pod.Name} ({string.Join(", ", holding.Select(c => $"{c.Tag.Ip} on {c.Eni.EniId}"))}); using one",
                ("pod", $"{pod.Namespace}/{pod.Name}"));
        return holding.Count == 0 ? null
            : holding.OrderByDescending(c => c.Eni.InstanceId == Self).ThenByDescending(c => c.Tag.ReleasedAt ?? DateTimeOffset.MinValue).First();
    }

    private static StickyIpRecord NewRecord(PodIdentity pod, string ip, string eniId, StickyIpPhase phase) =>
        new() { Namespace = pod.Namespace, Name = pod.Name, Ip = ip, EniId = eniId, Phase = phase };

    /// <summary>Drops a record whose IP is no longer this node's (taken by another node, or gone): never unassigned here.</summary>
    private void Forget(StickyIpRecord record, string why)
    {
        _gates.MarkGone(record.Ip);
        if (record.EniId.Length > 0 && !_allocations.TryGetByIp(record.Ip, out _))
            _pool.RemoveIp(record.EniId, record.Ip);
        Store.Remove(record.Identity);
        _log.Info("sticky.forgotten", $"{record.Identity}'s sticky IP {record.Ip} is no longer this node's: {why}",
            ("pod", record.Identity), ("ip", record.Ip), ("eni", record.EniId));
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
