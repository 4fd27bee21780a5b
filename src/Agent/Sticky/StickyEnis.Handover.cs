using Fathom.Agent.Protocol;
using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// The cloud side: the hand-over from another instance, its settling after a failure or a crash, and expiry.
public sealed partial class StickyEnis
{
    /// <summary>
    /// Moves the pod's ENI <paramref name="found"/> from its old instance to this one: recorded
    /// claiming, waited for until released (bounded), recorded detaching, detached, recorded
    /// attaching, attached and waited for (attached in the API, listed by the metadata service).
    /// Returns the record, retained here. A failure settles what was done (<see cref="SettleAsync"/>) and is thrown,
    /// unless the settling finds the ENI attached here all the same (<see cref="StickyPods{TRecord, TPhase}.SettledAsync"/>).
    /// </summary>
    private async Task<StickyRecord> HandOverAsync(PodIdentity pod, Eni found, CancellationToken cancellationToken)
    {
        var started = Time.GetTimestamp();
        var claimed = Store.Put(NewRecord(pod, found.EniId, StickyPhase.Claiming) with
        {
            OldInstanceId = found.InstanceId,
            OldAttachmentId = found.AttachmentId,
        });
        return await SettledAsync(claimed, async () =>
        {
            var record = claimed;
            var eni = await WaitReleasedAsync(record.Identity, found, cancellationToken).ConfigureAwait(false);
            if (eni.AttachmentState != EniAttachmentState.Detached && eni.AttachmentId is { } attachment)
            {
                record = Store.Put(record with { Phase = StickyPhase.Detaching, OldInstanceId = eni.InstanceId, OldAttachmentId = attachment });
                Crash("detach");
                await DetachAsync(eni, cancellationToken).ConfigureAwait(false);
            }
            record = Store.Put(record with { Phase = StickyPhase.Attaching });
            Crash("attach");
            var attached = await AttachHereAsync(record.EniId, cancellationToken).ConfigureAwait(false);
            if (Pool.Find(attached.EniId) is null) Pool.Add(attached);
            Crash("attached");
            record = Store.Put(record with
            {
                Phase = StickyPhase.Retained, ReleasedAt = Time.GetUtcNow(), TagsInSync = false, OldInstanceId = null, OldAttachmentId = null,
            });
            RecheckTagsLater(record);
            Log.Info("sticky.handed-over", $"{record.Identity}'s sticky ENI {record.EniId} ({attached.PrimaryIp}, {attached.Mac}) moved from {found.InstanceId ?? "no instance"} "
                + $"to {Self} in {Time.GetElapsedTime(started).TotalMilliseconds:0} ms",
                ("pod", record.Identity), ("eni", record.EniId), ("from", found.InstanceId), ("ms", (long)Time.GetElapsedTime(started).TotalMilliseconds));
            return record;
        }).ConfigureAwait(false);
    }

    // Until the old node released the ENI (its tag), or it is detached (the old instance gone: EC2 detaches
    // its ENIs), bounded by the hand-over time-out: past it, code 11 naming what is awaited.
    private Task<Eni> WaitReleasedAsync(string identity, Eni eni, CancellationToken cancellationToken) =>
        WaitReleasedAsync(eni, e => e.AttachmentState == EniAttachmentState.Detached || e.InstanceId == Self || EniTags.StickyReleasedAt(e.Tags) is not null,
            e => $"{identity}'s sticky ENI {e.EniId} ({e.PrimaryIp}) is still attached to {e.InstanceId}",
            $"{identity}'s sticky ENI {eni.EniId} was deleted while waiting for it (its retention ended?); a retry gets a new ENI", cancellationToken);

    private async Task DetachAsync(Eni eni, CancellationToken cancellationToken)
    {
        if (eni.AttachmentState != EniAttachmentState.Detaching)
            await Cloud.DetachEniIfAttachedAsync(eni.AttachmentId!, force: false, cancellationToken).ConfigureAwait(false);
        await Cloud.WaitForDetachmentAsync(eni.EniId, Options.AttachmentWait with { WaitForMetadata = false }, Time, cancellationToken).ConfigureAwait(false);
    }

    // Attaches at a free device index; another attach (the refiller's) may have taken that index meanwhile: the next one.
    private async Task<Eni> AttachHereAsync(string eniId, CancellationToken cancellationToken)
    {
        var tried = new HashSet<int>();
        while (true)
        {
            var used = Pool.DeviceIndexes();
            var free = Enumerable.Range(1, Math.Max(0, Pool.Limits.MaxEnis - 1)).Where(i => !used.Contains(i) && !tried.Contains(i)).ToList();
            if (free.Count == 0 || tried.Count >= 3)
                throw new CloudException(CloudErrorKind.LimitExceeded, "AttachmentLimitExceeded",
                    $"no free device index on {Self} for {eniId} ({used.Count} ENIs attached, {Pool.Limits.InstanceType} allows {Pool.Limits.MaxEnis})");
            try
            {
                var attachment = await Cloud.AttachEniAsync(eniId, Self, free[0], cancellationToken).ConfigureAwait(false);
                return await Cloud.WaitForAttachmentAsync(eniId, attachment, Options.AttachmentWait, Time, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e) when (e.Kind == CloudErrorKind.Invalid && e.Code == "InvalidParameterValue")
            {
                tried.Add(free[0]);
            }
        }
    }

    /// <summary>
    /// Brings a record that is not local (a hand-over or an expiry cut short by a failure or a crash)
    /// to a state that needs no one: claiming (nothing done) is dropped; detaching or attaching is
    /// resumed when the ENI is attached here (kept retained: the pod's retried ADD takes it) and rolled
    /// back otherwise (the ENI stays detached, or where it was, still tagged: the next claim finds it);
    /// an expiry is finished.
    /// </summary>
    internal override async Task SettleAsync(StickyRecord record, CancellationToken cancellationToken)
    {
        switch (record.Phase)
        {
            case StickyPhase.Claiming:
                Store.Remove(record.Identity);
                return;
            case StickyPhase.Detaching or StickyPhase.Attaching:
                var eni = await DescribeOneAsync(record.EniId, cancellationToken).ConfigureAwait(false);
                if (eni?.InstanceId == Self)
                {
                    if (eni.AttachmentState == EniAttachmentState.Attaching && eni.AttachmentId is { } attaching)
                        eni = await Cloud.WaitForAttachmentAsync(eni.EniId, attaching, Options.AttachmentWait, Time, cancellationToken).ConfigureAwait(false);
                    if (Pool.Find(eni.EniId) is null) Pool.Add(eni);
                    RecheckTagsLater(Store.Put(record with
                    {
                        Phase = StickyPhase.Retained, ReleasedAt = Time.GetUtcNow(), TagsInSync = false, OldInstanceId = null, OldAttachmentId = null,
                    }));
                    Log.Info("sticky.resumed", $"{record.Identity}'s sticky ENI {record.EniId} is attached here: kept for the pod", ("pod", record.Identity), ("eni", record.EniId));
                    return;
                }
                Store.Remove(record.Identity);
                Log.Info("sticky.rolled-back", $"hand-over of {record.Identity}'s {record.EniId} rolled back: it is "
                    + (eni is null ? "gone" : eni.InstanceId is null ? "detached, tagged for the pod's next claim" : $"attached to {eni.InstanceId}"),
                    ("pod", record.Identity), ("eni", record.EniId));
                return;
            case StickyPhase.Expiring:
                await ExpireAsync(record, cancellationToken).ConfigureAwait(false);
                return;
        }
    }

    /// <summary>Retention over: the ENI untagged (no other node claims it now), detached from here and deleted.</summary>
    private async Task ExpireAsync(StickyRecord record, CancellationToken cancellationToken)
    {
        record = Store.Put(record with { Phase = StickyPhase.Expiring });
        Crash("expire");
        var eni = await DescribeOneAsync(record.EniId, cancellationToken).ConfigureAwait(false);
        if (eni is null || (eni.InstanceId is { } other && other != Self))
        {
            Forget(record, eni is null ? "it is gone" : $"it is attached to {eni.InstanceId}");
            return;
        }
        await Cloud.DeleteTagsAsync(record.EniId, [EniTags.Sticky, EniTags.StickyReleased], cancellationToken).ConfigureAwait(false);
        if (eni.InstanceId == Self)
            await DetachAsync(eni, cancellationToken).ConfigureAwait(false);
        Pool.Remove(record.EniId);
        await Cloud.DeleteEniIfPresentAsync(record.EniId, cancellationToken).ConfigureAwait(false);
        Store.Remove(record.Identity);
        Log.Info("sticky.expired", $"{record.Identity} did not come back within {Options.Config.RetentionSeconds:0.#} s: its sticky ENI {record.EniId} is deleted",
            ("pod", record.Identity), ("eni", record.EniId));
        Pool.Notify();
    }
}
