using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// The background side: a DEL done makes the ENI retained and tagged released; retention expiry; a retained
// ENI another node took is forgotten; tags kept in line with the records.
public sealed partial class StickyEnis
{
    /// <summary>One pass over the records (the loop's; tests call it directly on a fake clock).</summary>
    internal async Task TickAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        _gates.Prune();
        HashSet<string>? attachedHere = null;
        if (now >= _nextCheck && Store.All().Any(r => r.Phase == StickyPhase.Retained))
        {
            attachedHere = [.. (await _cloud.DescribeEnisAsync(EniQuery.ByInstance(Self), cancellationToken).ConfigureAwait(false)).Select(e => e.EniId)];
            _nextCheck = now + TimeSpan.FromSeconds(_options.Config.CheckIntervalSeconds);
        }
        // A pod an ADD is at is skipped: the next pass comes soon.
        await _gates.ForEachIdleAsync([.. Store.All().Select(r => r.Identity)], async identity =>
        {
            if (Store.Get(identity) is not { } current) return;
            try
            {
                await TickOneAsync(current, attachedHere, now, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e)
            {
                _log.Warning("sticky.retry", $"{current.Identity}'s sticky ENI {current.EniId}: {e.Reason}; retried", ("pod", current.Identity), ("eni", current.EniId));
            }
        }).ConfigureAwait(false);
    }

    private async Task TickOneAsync(StickyRecord record, HashSet<string>? attachedHere, DateTimeOffset now, CancellationToken cancellationToken)
    {
        switch (record.Phase)
        {
            case StickyPhase.Held when !_allocations.IsEniHeldWhole(record.EniId) && !ReturnPending(record.EniId):
                // The pod's DEL is done and its ENI back on the node: kept for it from now on.
                record = Store.Put(record with { Phase = StickyPhase.Retained, ReleasedAt = now, TagsInSync = false });
                _log.Info("sticky.retained", $"{record.Identity}'s sticky ENI {record.EniId} is kept for it for {_options.Config.RetentionSeconds:0.#} s",
                    ("pod", record.Identity), ("eni", record.EniId));
                break;
            case StickyPhase.Retained when attachedHere is not null && !attachedHere.Contains(record.EniId):
                Forget(record, "another node took it (or it was detached)");
                return;
            case StickyPhase.Retained when now - record.ReleasedAt >= _options.Config.Retention:
                await ExpireAsync(record, cancellationToken).ConfigureAwait(false);
                return;
            case StickyPhase.Claiming or StickyPhase.Detaching or StickyPhase.Attaching or StickyPhase.Expiring:
                await SettleAsync(record, cancellationToken).ConfigureAwait(false);
                return;
        }
        if (record.IsLocal && !record.TagsInSync)
            await SyncTagsAsync(record, cancellationToken).ConfigureAwait(false);
    }

    // The tags another node reads: whose the ENI is and which node has it; released (with when) once retained.
    private async Task SyncTagsAsync(StickyRecord record, CancellationToken cancellationToken)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [EniTags.Cluster] = _options.Cluster,
            [EniTags.Node] = _options.NodeName,
            [EniTags.Sticky] = record.Identity,
        };
        if (record is { Phase: StickyPhase.Retained, ReleasedAt: { } released })
            tags[EniTags.StickyReleased] = EniTags.StickyReleasedValue(released);
        await _cloud.CreateTagsAsync(record.EniId, tags, cancellationToken).ConfigureAwait(false);
        if (record.Phase == StickyPhase.Held)
            await _cloud.DeleteTagsAsync(record.EniId, [EniTags.StickyReleased], cancellationToken).ConfigureAwait(false);
        Store.Put(record with { TagsInSync = true });
    }

    private bool ReturnPending(string eniId) =>
        _teardown.Pending().Any(j => j.Job.Action == Teardown.TeardownAction.ReturnEni && j.Job.EniId == eniId);
}
