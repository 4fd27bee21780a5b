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
public sealed partial class StickyIps : StickyPods<StickyIpRecord, StickyIpPhase>
{
    private readonly IpCooldown _cooldown;

    /// <summary>Sticky IPs of <paramref name="pool"/>'s node; from now on the pool keeps the recorded IPs out of its own use.</summary>
    public StickyIps(EniPool pool, ICloudProvider cloud, StickyIpStore store, AllocationStore allocations, IpCooldown cooldown,
        TeardownQueue teardown, StickyEnisOptions options, AgentLog log, TimeProvider? time = null)
        : base(pool, cloud, store, allocations, teardown, options, log, time)
    {
        _cooldown = cooldown;
        Pool.ReservedIp = IsReserved;
    }

    private protected override string What => "sticky IP";

    private protected override string ResourceField => "ip";

    // A pod whose tag key EC2 would refuse cannot keep its IP: said at once, not as a cloud failure.
    private protected override ErrorReply? Refuse(PodIdentity pod, string identity)
    {
        var key = EniTags.StickyIpKey(pod.Namespace, pod.Name);
        if (key.Length <= EniTags.MaxKeyLength)
            return null;
        return new ErrorReply
        {
            Code = AgentErrorCode.InvalidConfig,
            Message = $"{identity} matches pools.sticky but its IP cannot follow it: the tag key {key} would be {key.Length} characters and EC2 allows "
                + $"{EniTags.MaxKeyLength} (namespace and name together at most {EniTags.MaxKeyLength - EniTags.StickyIpPrefix.Length - 1})",
        };
    }

    // Where the pod's IP is comes from the cloud, never from the record alone: another node may have
    // taken a retained IP before this node's check noticed (the record and the pool's entry are then stale).
    private protected override async ValueTask<AgentReply> AllocateLockedAsync(string identity, AllocateRequest request,
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
                local = Store.Put(NewRecord(pod, tag.Ip, eni.EniId, StickyIpPhase.Retained) with { ReleasedAt = Time.GetUtcNow() });
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
            Log.Warning("sticky.tag-limit", $"{identity} gets {shared.Ip} of {shared.EniId} without keeping it: that ENI already holds "
                + $"{EniTags.MaxStickyIpsPerEni} sticky IPs, as many as EC2's {EniTags.MaxTagsPerEni} tags per ENI allow", ("pod", identity), ("eni", shared.EniId));
            return reply;
        }
        Store.Put(NewRecord(request.Pod!, shared.Ip, shared.EniId, StickyIpPhase.Held));
        Log.Info("sticky.bound", $"{shared.Ip} of {shared.EniId} is now {identity}'s sticky IP", ("pod", identity), ("eni", shared.EniId), ("ip", shared.Ip));
        return reply;
    }

    // The pod's own IP, on an ENI here: recorded held and tagged held (no other node may take it now), then
    // taken once its last pod's rules are gone.
    private async ValueTask<AgentReply> TakeLocalAsync(StickyIpRecord record, AllocateRequest request, CancellationToken cancellationToken)
    {
        record = Store.Put(record with { Phase = StickyIpPhase.Held, ReleasedAt = null, TagsInSync = false });
        Gates.Unmark(record.Ip); // this node's again (moved back): its record reserves it from now on
        await SyncTagsAsync(record, cancellationToken).ConfigureAwait(false);
        Pool.AddIps(record.EniId, [IPAddress.Parse(record.Ip)]); // the cloud says it is there; a reload may not have seen it yet
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        var hostVeth = NodeVeth.HostNameFor(request.ContainerId, request.IfName);
        var allocation = await TakeWhenUsableAsync(() => hostVeth,
            () => Pool.TryTakeStickyIp(key, record.EniId, record.Ip, request.Pod, request.NetnsPath, hostVeth),
            $"{record.Identity}'s sticky IP {record.Ip} is on {record.EniId} of this node", () => WhyNotUsable(record), cancellationToken).ConfigureAwait(false);
        Log.Info("sticky.taken", $"{record.Identity} has its sticky IP {record.Ip} ({record.EniId}) again",
            ("pod", record.Identity), ("eni", record.EniId), ("ip", record.Ip));
        return new AllocatedReply { Allocation = allocation };
    }

    private string WhyNotUsable(StickyIpRecord record) => Pool.Find(record.EniId) switch
    {
        null => $"the pool does not list {record.EniId}",
        _ when Allocations.TryGetByIp(record.Ip, out var holder) => $"{holder!.Key} holds it",
        _ when Teardown.PendingPodIps().Contains(record.Ip) => "its last pod's rules are still being removed",
        { Primary: false, RoutingInstalled: false } e => $"the routing table of {e.EniId} is not installed yet (its device: {e.HostDevice ?? "not found"})",
        _ => $"{record.EniId} is held whole or being released",
    };

    // The ENI that holds the IP tagged for the pod in this cluster (a tag whose ENI no longer holds the IP is a
    // leftover of a move cut short: ignored); if a crash left two, the one here, else the last released.
    private async Task<(Eni Eni, StickyIpTag Tag)?> FindAsync(PodIdentity pod, CancellationToken cancellationToken)
    {
        var key = EniTags.StickyIpKey(pod.Namespace, pod.Name);
        var found = await Cloud.DescribeEnisAsync(EniQuery.ByTagKey(key), cancellationToken).ConfigureAwait(false);
        var holding = found
            .Select(e => (Eni: e, Tag: StickyIpTag.Parse(e.Tags.GetValueOrDefault(key))))
            .Where(c => c.Tag is not null && c.Tag.Cluster == Options.Cluster && c.Eni.SecondaryIps.Any(ip => ip.ToString() == c.Tag.Ip))
            .Select(c => (c.Eni, Tag: c.Tag!))
            .ToList();
        if (holding.Count > 1)
            Log.Warning("sticky.ambiguous", $"{holding.Count} ENIs hold an IP tagged for {pod.Namespace}/{pod.Name} ({string.Join(", ", holding.Select(c => $"{c.Tag.Ip} on {c.Eni.EniId}"))}); using one",
                ("pod", $"{pod.Namespace}/{pod.Name}"));
        return holding.Count == 0 ? null
            : holding.OrderByDescending(c => c.Eni.InstanceId == Self).ThenByDescending(c => c.Tag.ReleasedAt ?? DateTimeOffset.MinValue).First();
    }

    private static StickyIpRecord NewRecord(PodIdentity pod, string ip, string eniId, StickyIpPhase phase) =>
        new() { Namespace = pod.Namespace, Name = pod.Name, Ip = ip, EniId = eniId, Phase = phase };

    /// <summary>Drops a record whose IP is no longer this node's (taken by another node, or gone): never unassigned here.</summary>
    private void Forget(StickyIpRecord record, string why)
    {
        Gates.MarkGone(record.Ip);
        if (record.EniId.Length > 0 && !Allocations.IsIpHeld(record.Ip))
            Pool.RemoveIp(record.EniId, record.Ip);
        Store.Remove(record.Identity);
        Log.Info("sticky.forgotten", $"{record.Identity}'s sticky IP {record.Ip} is no longer this node's: {why}",
            ("pod", record.Identity), ("ip", record.Ip), ("eni", record.EniId));
        Pool.Notify();
    }
}
