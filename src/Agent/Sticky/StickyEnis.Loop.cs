using Fathom.Agent.Teardown;
using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// The background side: a DEL done makes the ENI retained and tagged released; retention expiry; a retained
// ENI another node took is forgotten; tags kept in line with the records, and written again after a hand-over.
public sealed partial class StickyEnis
{
    private protected override HashSet<string> OnThisNode(IReadOnlyList<Eni> enis) => [.. enis.Select(e => e.EniId)];

    private protected override async Task TickOneAsync(StickyRecord record, HashSet<string>? attachedHere, DateTimeOffset now, CancellationToken cancellationToken)
    {
        switch (record.Phase)
        {
            case StickyPhase.Held when !Allocations.IsEniHeldWhole(record.EniId) && !ReturnPending(record.EniId):
                // The pod's DEL is done and its ENI back on the node: kept for it from now on.
                record = Store.Put(record with { Phase = StickyPhase.Retained, ReleasedAt = now, TagsInSync = false });
                Log.Info("sticky.retained", $"{record.Identity}'s sticky ENI {record.EniId} is kept for it for {Options.Config.RetentionSeconds:0.#} s",
                    ("pod", record.Identity), ("eni", record.EniId));
                break;
            case StickyPhase.Retained when attachedHere is not null && !attachedHere.Contains(record.EniId):
                Forget(record, "another node took it (or it was detached)");
                return;
            case StickyPhase.Retained when now - record.ReleasedAt >= Options.Config.Retention:
                await ExpireAsync(record, cancellationToken).ConfigureAwait(false);
                return;
            case StickyPhase.Claiming or StickyPhase.Detaching or StickyPhase.Attaching or StickyPhase.Expiring:
                await SettleAsync(record, cancellationToken).ConfigureAwait(false);
                return;
        }
        if (record.IsLocal && _tagsRecheck.TryGetValue(record.Identity, out var recheck) && now >= recheck && _tagsRecheck.TryRemove(record.Identity, out _))
            record = Store.Put(record with { TagsInSync = false });
        if (record.IsLocal && !record.TagsInSync)
            await SyncTagsAsync(record, cancellationToken).ConfigureAwait(false);
    }

    // After a hand-over: the tags written once more when the old node's retries must be over (TagsRecheckAfter).
    // The old node's "released" and node tags can land on the ENI after this node took it — a write whose
    // answer was lost and that it retried, or its loop's next sync of the record before its check saw the ENI
    // gone — and "released" on the ENI of a running pod would let another node's claim take it from under it.
    // In memory: a start schedules it for every ENI the node holds for a pod (the constructor).
    private void RecheckTagsLater(StickyRecord record) => _tagsRecheck[record.Identity] = Time.GetUtcNow() + Options.TagsRecheckAfter;

    // The tags another node reads: whose the ENI is and which node has it; released (with when) once retained.
    private async Task SyncTagsAsync(StickyRecord record, CancellationToken cancellationToken)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [EniTags.Cluster] = Options.Cluster,
            [EniTags.Node] = Options.NodeName,
            [EniTags.Sticky] = record.Identity,
        };
        if (record is { Phase: StickyPhase.Retained, ReleasedAt: { } released })
            tags[EniTags.StickyReleased] = EniTags.StickyReleasedValue(released);
        await Cloud.CreateTagsAsync(record.EniId, tags, cancellationToken).ConfigureAwait(false);
        if (record.Phase == StickyPhase.Held)
            await Cloud.DeleteTagsAsync(record.EniId, [EniTags.StickyReleased], cancellationToken).ConfigureAwait(false);
        Store.Put(record with { TagsInSync = true });
    }

    private bool ReturnPending(string eniId) =>
        Teardown.Pending().Any(j => j.Job.Action == TeardownAction.ReturnEni && j.Job.EniId == eniId);
}
