using System.Net;
using Fathom.Agent.Protocol;
using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// The hand-over (the IP found on another node's ENI, moved onto one of this node's), its settling after
// a failure or a crash, and the expiry of a retained IP.
public sealed partial class StickyIps
{
    /// <summary>
    /// Moves the pod's IP from <paramref name="eni"/> (another node's, or detached) onto an ENI of this node
    /// in the same subnet: claiming (recorded, no call yet) → until released → moving (recorded with the ENI
    /// it goes to) → AssignPrivateIpAddresses with AllowReassignment → retained here. Any failure settles
    /// the record (<see cref="SettleAsync"/>) and the ADD fails with code 11 saying why — unless the settling finds the
    /// IP on the ENI here all the same (a move whose answers were lost): the ADD goes on with it.
    /// </summary>
    private async Task<StickyIpRecord> HandOverAsync(PodIdentity pod, Eni eni, StickyIpTag tag, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        var claimed = Store.Put(NewRecord(pod, tag.Ip, "", StickyIpPhase.Claiming) with { OldEniId = eni.EniId });
        return await SettledAsync(claimed, async () =>
        {
            var record = claimed;
            eni = await WaitReleasedAsync(record, eni, cancellationToken).ConfigureAwait(false);
            var target = Pool.TryHostMovedIp(eni.SubnetId, record.Ip)
                ?? throw new StickyHandoverException($"{record.Identity}'s IP {record.Ip} is in subnet {eni.SubnetId} and no ENI of {Self} in that subnet "
                    + $"can take it (none hosts IPs there with room for one more): an IP moves only within its subnet; give the node an ENI in {eni.SubnetId} "
                    + "(pools.subnetIds) or let the pod's IP expire");
            record = Store.Put(record with { Phase = StickyIpPhase.Moving, EniId = target.EniId });
            Crash("reassign");
            await Cloud.ReassignPrivateIpAsync(target.EniId, IPAddress.Parse(record.Ip), cancellationToken).ConfigureAwait(false);
            Crash("moved");
            record = Store.Put(record with { Phase = StickyIpPhase.Retained, ReleasedAt = Time.GetUtcNow(), TagsInSync = false });
            var ms = (long)Time.GetElapsedTime(started).TotalMilliseconds;
            Log.Info("sticky.handed-over", $"{record.Identity}'s sticky IP {record.Ip} moved from {eni.EniId} ({eni.InstanceId ?? "detached"}) to {target.EniId} of {Self} in {ms} ms",
                ("pod", record.Identity), ("ip", record.Ip), ("from", eni.EniId), ("eni", target.EniId), ("ms", ms));
            return record;
        }).ConfigureAwait(false);
    }

    // Until the old node released the IP (its tag says so), or its ENI is detached (the old instance gone),
    // bounded by the hand-over time-out: past it, code 11 naming what is awaited. The IP gone from that ENI
    // (another node took it, or it expired) ends the wait at once.
    private Task<Eni> WaitReleasedAsync(StickyIpRecord record, Eni eni, CancellationToken cancellationToken) =>
        WaitReleasedAsync(eni, e =>
            {
                var tag = StickyIpTag.Parse(e.Tags.GetValueOrDefault(record.TagKey));
                if (tag?.Ip != record.Ip || !e.SecondaryIps.Any(ip => ip.ToString() == record.Ip))
                    throw new StickyHandoverException($"{record.Identity}'s IP {record.Ip} left {e.EniId} while waiting for it (another node took it, or it expired); a retry looks again");
                return e.AttachmentState == EniAttachmentState.Detached || tag.ReleasedAt is not null;
            },
            e => $"{record.Identity}'s sticky IP {record.Ip} is still on {e.EniId} of {e.InstanceId}",
            $"{record.Identity}'s IP {record.Ip}: its ENI {record.OldEniId} was deleted while waiting for it; a retry gets a new IP", cancellationToken);

    /// <summary>
    /// Brings a record that is not local (a hand-over or an expiry cut short by a failure or a crash) to a
    /// state that needs no one: claiming (nothing done) is dropped; moving is resumed when the cloud shows
    /// the IP on the ENI here (kept retained: the pod's retried ADD takes it; the old ENI's tag is removed
    /// then) and rolled back otherwise (the IP stays where it was, still tagged: the next claim finds it);
    /// an expiry is finished.
    /// </summary>
    internal override async Task SettleAsync(StickyIpRecord record, CancellationToken cancellationToken)
    {
        switch (record.Phase)
        {
            case StickyIpPhase.Claiming:
                Store.Remove(record.Identity);
                return;
            case StickyIpPhase.Moving:
                var eni = await DescribeOneAsync(record.EniId, cancellationToken).ConfigureAwait(false);
                if (eni?.InstanceId == Self && eni.SecondaryIps.Any(ip => ip.ToString() == record.Ip))
                {
                    Pool.AddIps(record.EniId, [IPAddress.Parse(record.Ip)]);
                    var kept = Store.Put(record with { Phase = StickyIpPhase.Retained, ReleasedAt = Time.GetUtcNow(), TagsInSync = false });
                    // Tagged now, not at the loop's next pass: until then no node (this one included) would find the IP by its tag.
                    await SyncTagsAsync(kept, cancellationToken).ConfigureAwait(false);
                    Log.Info("sticky.resumed", $"{record.Identity}'s sticky IP {record.Ip} is on {record.EniId} here: kept for the pod",
                        ("pod", record.Identity), ("ip", record.Ip), ("eni", record.EniId));
                    return;
                }
                Pool.RemoveIp(record.EniId, record.Ip);
                Store.Remove(record.Identity);
                Pool.Notify();
                Log.Info("sticky.rolled-back", $"moving {record.Identity}'s IP {record.Ip} to {record.EniId} rolled back: it stays on {record.OldEniId}, tagged for the pod's next claim",
                    ("pod", record.Identity), ("ip", record.Ip), ("eni", record.EniId));
                return;
            case StickyIpPhase.Expiring:
                await ExpireAsync(record, cancellationToken).ConfigureAwait(false);
                return;
        }
    }

    /// <summary>
    /// Retention over: the tag removed (no other node claims the IP now), the record dropped, and the IP —
    /// when still on this node's ENI — back to the pool through the cooldown like any freed IP.
    /// </summary>
    private async Task ExpireAsync(StickyIpRecord record, CancellationToken cancellationToken)
    {
        record = Store.Put(record with { Phase = StickyIpPhase.Expiring });
        Crash("expire");
        foreach (var eniId in new[] { record.EniId, record.OldEniId })
            if (!string.IsNullOrEmpty(eniId))
                await DeleteTagAsync(eniId, record.TagKey, cancellationToken).ConfigureAwait(false);
        var here = Pool.Find(record.EniId)?.SecondaryIps.Contains(record.Ip) == true;
        if (here) _cooldown.Start(record.Ip, record.EniId);
        Store.Remove(record.Identity);
        Log.Info("sticky.expired", $"{record.Identity} did not come back within {Options.Config.RetentionSeconds:0.#} s: its sticky IP {record.Ip} "
            + (here ? $"goes back to the pool of {record.EniId} after its cooldown" : "is no longer on this node"), ("pod", record.Identity), ("ip", record.Ip));
        Pool.Notify();
    }

    private async Task DeleteTagAsync(string eniId, string key, CancellationToken cancellationToken)
    {
        try
        {
            await Cloud.DeleteTagsAsync(eniId, [key], cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
        {
            // The ENI is gone: so is its tag.
        }
    }
}
