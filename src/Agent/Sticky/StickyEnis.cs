using System.Collections.Concurrent;
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

    /// <summary>
    /// How long after a hand-over the new node writes the ENI's tags once more: longer than the old node's
    /// retries of a tag write can last (a cloud call's retry budget, <see cref="BackoffPolicy.MaxElapsed"/>),
    /// so a retry of its "released" whose first answer was lost, landing after the hand-over, is undone.
    /// </summary>
    public TimeSpan TagsRecheckAfter { get; init; } = new BackoffPolicy().MaxElapsed + TimeSpan.FromSeconds(10);
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
public sealed partial class StickyEnis : StickyPods<StickyRecord, StickyPhase>
{
    // When each pod's ENI, handed over to this node, gets its tags written once more (RecheckTagsLater).
    private readonly ConcurrentDictionary<string, DateTimeOffset> _tagsRecheck = new(StringComparer.Ordinal);

    /// <summary>Sticky ENIs of <paramref name="pool"/>'s node; from now on the pool keeps the recorded ENIs out of its own use.</summary>
    public StickyEnis(EniPool pool, ICloudProvider cloud, StickyStore store, AllocationStore allocations, TeardownQueue teardown,
        StickyEnisOptions options, AgentLog log, TimeProvider? time = null)
        : base(pool, cloud, store, allocations, teardown, options, log, time)
    {
        Pool.Reserved = IsReserved;
        // A start does not know whether a hand-over came just before it (the recheck is kept in memory):
        // every ENI this node holds for a pod gets its tags written once more, as after a hand-over.
        foreach (var record in Store.All().Where(r => r.IsLocal))
            RecheckTagsLater(record);
    }

    private protected override string What => "sticky ENI";

    private protected override string ResourceField => "eni";

    // Where the pod's ENI is comes from the cloud, never from the record alone: another node may have
    // taken a retained ENI before this node's check noticed (the record and the pool's entry are then stale).
    private protected override async ValueTask<AgentReply> AllocateLockedAsync(string identity, AllocateRequest request,
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
            if (Pool.Find(found.EniId) is null) Pool.Add(found);
            if (Store.Get(identity) is not { IsLocal: true } local)
                local = Store.Put(NewRecord(request.Pod!, found.EniId, StickyPhase.Retained) with { ReleasedAt = Time.GetUtcNow() });
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
            Log.Info("sticky.bound", $"{underlay.EniId} ({underlay.Address}) is now {identity}'s sticky ENI", ("pod", identity), ("eni", underlay.EniId));
        }
        return reply;
    }

    // The pod's own ENI, attached here: recorded held, the released tag removed (no other node may take it
    // now), then taken once its device is there and its return from the last pod done.
    private async ValueTask<AgentReply> TakeLocalAsync(StickyRecord record, AllocateRequest request, CancellationToken cancellationToken)
    {
        record = Store.Put(record with { Phase = StickyPhase.Held, ReleasedAt = null, TagsInSync = false });
        await Cloud.DeleteTagsAsync(record.EniId, [EniTags.StickyReleased], cancellationToken).ConfigureAwait(false);
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        var allocation = await TakeWhenUsableAsync(() => Pool.Find(record.EniId)?.HostDevice,
            () => Pool.TryTakeSticky(key, record.EniId, Options.Mtu, request.Pod, request.NetnsPath),
            $"{record.Identity}'s sticky ENI {record.EniId} is attached to this node", () => WhyNotUsable(record.EniId), cancellationToken).ConfigureAwait(false);
        Log.Info("sticky.taken", $"{record.Identity} has its sticky ENI {record.EniId} ({allocation.Address}) again",
            ("pod", record.Identity), ("eni", record.EniId), ("ip", allocation.Ip));
        return new AllocatedReply { Allocation = allocation };
    }

    private string WhyNotUsable(string eniId) => Pool.Find(eniId) switch
    {
        null => "the pool does not list it",
        { HostDevice: null } e => $"no device with its MAC {e.Mac} on the node yet",
        _ when Allocations.IsEniInUse(eniId) => "another attachment holds it",
        { HostDevice: { } device } => $"its device {device} is still being returned from its last pod",
    };

    // The ENI tagged for the pod in this cluster; if a crash left two, the one here, else the last released.
    private async Task<Eni?> FindAsync(string identity, CancellationToken cancellationToken)
    {
        var found = await Cloud.DescribeEnisAsync(EniQuery.ByTags(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [EniTags.Cluster] = Options.Cluster,
            [EniTags.Sticky] = identity,
        }), cancellationToken).ConfigureAwait(false);
        if (found.Count > 1)
            Log.Warning("sticky.ambiguous", $"{found.Count} ENIs are tagged for {identity} ({string.Join(", ", found.Select(e => e.EniId))}); using one, the others retire",
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
        _tagsRecheck.TryRemove(record.Identity, out _);
        Gates.MarkGone(record.EniId);
        Pool.Remove(record.EniId);
        Store.Remove(record.Identity);
        Log.Info("sticky.forgotten", $"{record.Identity}'s sticky ENI {record.EniId} is no longer this node's: {why}",
            ("pod", record.Identity), ("eni", record.EniId));
        Pool.Notify();
    }
}

