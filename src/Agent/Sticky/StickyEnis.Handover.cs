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
    /// Returns the record, retained here. A failure settles what was done (<see cref="SettleAsync"/>) and is thrown.
    /// </summary>
    private async Task<StickyRecord> HandOverAsync(PodIdentity pod, Eni found, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var record = Store.Put(NewRecord(pod, found.EniId, StickyPhase.Claiming) with
        {
            OldInstanceId = found.InstanceId,
            OldAttachmentId = found.AttachmentId,
        });
        try
        {
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
            if (_pool.Find(attached.EniId) is null) _pool.Add(attached);
            Crash("attached");
            record = Store.Put(record with
            {
                Phase = StickyPhase.Retained, ReleasedAt = _time.GetUtcNow(), TagsInSync = false, OldInstanceId = null, OldAttachmentId = null,
            });
            _log.Info("sticky.handed-over", $"{record.Identity}'s sticky ENI {record.EniId} ({attached.PrimaryIp}, {attached.Mac}) moved from {found.InstanceId ?? "no instance"} "
                + $"to {Self} in {_time.GetElapsedTime(started).TotalMilliseconds:0} ms",
                ("pod", record.Identity), ("eni", record.EniId), ("from", found.InstanceId), ("ms", (long)_time.GetElapsedTime(started).TotalMilliseconds));
            return record;
        }
        catch (Exception e) when (e is CloudException or StickyHandoverException or OperationCanceledException)
        {
            try
            {
                await SettleAsync(Store.Get(record.Identity) ?? record, CancellationToken.None).ConfigureAwait(false);
            }
            catch (CloudException settle)
            {
                _log.Warning("sticky.settle-failed", $"settling {record.Identity}'s {record.EniId} after a failed hand-over failed, retried in the background: {settle.Reason}",
                    ("pod", record.Identity), ("eni", record.EniId));
            }
            throw;
        }
    }

    // Until the old node released the ENI (its tag), or it is detached (the old instance gone: EC2 detaches
    // its ENIs), bounded by the hand-over time-out: past it, code 11 naming what is awaited.
    private async Task<Eni> WaitReleasedAsync(string identity, Eni eni, CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromSeconds(_options.Config.HandoverTimeoutSeconds);
        var started = _time.GetTimestamp();
        var interval = TimeSpan.FromMilliseconds(50);
        while (eni.AttachmentState != EniAttachmentState.Detached && eni.InstanceId != Self && EniTags.StickyReleasedAt(eni.Tags) is null)
        {
            var left = timeout - _time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
                throw new StickyHandoverException($"{identity}'s sticky ENI {eni.EniId} ({eni.PrimaryIp}) is still attached to {eni.InstanceId} and not released after "
                    + $"{timeout.TotalSeconds:0.#} s: the old pod still runs there or its node's agent is down; it moves once that node's DEL is done or the instance is gone");
            await Task.Delay(interval < left ? interval : left, _time, cancellationToken).ConfigureAwait(false);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            eni = await DescribeOneAsync(eni.EniId, cancellationToken).ConfigureAwait(false)
                ?? throw new StickyHandoverException($"{identity}'s sticky ENI {eni.EniId} was deleted while waiting for it (its retention ended?); a retry gets a new ENI");
        }
        return eni;
    }

    private async Task DetachAsync(Eni eni, CancellationToken cancellationToken)
    {
        if (eni.AttachmentState != EniAttachmentState.Detaching)
        {
            try
            {
                await _cloud.DetachEniAsync(eni.AttachmentId!, force: false, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
            {
                // Detached meanwhile (by a retry of ours, or EC2 with the old instance): what was wanted.
            }
        }
        await _cloud.WaitForDetachmentAsync(eni.EniId, _options.AttachmentWait with { WaitForMetadata = false }, _time, cancellationToken).ConfigureAwait(false);
    }

    // Attaches at a free device index; another attach (the refiller's) may have taken that index meanwhile: the next one.
    private async Task<Eni> AttachHereAsync(string eniId, CancellationToken cancellationToken)
    {
        var tried = new HashSet<int>();
        while (true)
        {
            var used = _pool.DeviceIndexes();
            var free = Enumerable.Range(1, Math.Max(0, _pool.Limits.MaxEnis - 1)).Where(i => !used.Contains(i) && !tried.Contains(i)).ToList();
            if (free.Count == 0 || tried.Count >= 3)
                throw new CloudException(CloudErrorKind.LimitExceeded, "AttachmentLimitExceeded",
                    $"no free device index on {Self} for {eniId} ({used.Count} ENIs attached, {_pool.Limits.InstanceType} allows {_pool.Limits.MaxEnis})");
            try
            {
                var attachment = await _cloud.AttachEniAsync(eniId, Self, free[0], cancellationToken).ConfigureAwait(false);
                return await _cloud.WaitForAttachmentAsync(eniId, attachment, _options.AttachmentWait, _time, cancellationToken).ConfigureAwait(false);
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
    internal async Task SettleAsync(StickyRecord record, CancellationToken cancellationToken)
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
                        eni = await _cloud.WaitForAttachmentAsync(eni.EniId, attaching, _options.AttachmentWait, _time, cancellationToken).ConfigureAwait(false);
                    if (_pool.Find(eni.EniId) is null) _pool.Add(eni);
                    Store.Put(record with { Phase = StickyPhase.Retained, ReleasedAt = _time.GetUtcNow(), TagsInSync = false, OldInstanceId = null, OldAttachmentId = null });
                    _log.Info("sticky.resumed", $"{record.Identity}'s sticky ENI {record.EniId} is attached here: kept for the pod", ("pod", record.Identity), ("eni", record.EniId));
                    return;
                }
                Store.Remove(record.Identity);
                _log.Info("sticky.rolled-back", $"hand-over of {record.Identity}'s {record.EniId} rolled back: it is "
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
        await _cloud.DeleteTagsAsync(record.EniId, [EniTags.Sticky, EniTags.StickyReleased], cancellationToken).ConfigureAwait(false);
        if (eni.InstanceId == Self)
            await DetachAsync(eni, cancellationToken).ConfigureAwait(false);
        _pool.Remove(record.EniId);
        try
        {
            await _cloud.DeleteEniAsync(record.EniId, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
        {
        }
        Store.Remove(record.Identity);
        _log.Info("sticky.expired", $"{record.Identity} did not come back within {_options.Config.RetentionSeconds:0.#} s: its sticky ENI {record.EniId} is deleted",
            ("pod", record.Identity), ("eni", record.EniId));
        _pool.Notify();
    }

    private async Task<Eni?> DescribeOneAsync(string eniId, CancellationToken cancellationToken)
    {
        try
        {
            return (await _cloud.DescribeEnisAsync(EniQuery.ByIds(eniId), cancellationToken).ConfigureAwait(false)).FirstOrDefault(e => e.EniId == eniId);
        }
        catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
        {
            return null;
        }
    }
}
