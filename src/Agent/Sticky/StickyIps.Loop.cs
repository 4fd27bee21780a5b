using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// The background side: a DEL done makes the IP retained and its tag released; retention expiry; a retained
// IP another node took is forgotten (never unassigned, its tag here removed); tags kept in line with the records.
public sealed partial class StickyIps
{
    private protected override HashSet<string> OnThisNode(IReadOnlyList<Eni> enis) =>
        [.. enis.SelectMany(e => e.SecondaryIps).Select(ip => ip.ToString())];

    private protected override async Task TickOneAsync(StickyIpRecord record, HashSet<string>? onThisNode, DateTimeOffset now, CancellationToken cancellationToken)
    {
        switch (record.Phase)
        {
            case StickyIpPhase.Held when !Allocations.IsIpHeld(record.Ip) && !Teardown.PendingPodIps().Contains(record.Ip):
                // The pod's DEL is done and its rules are gone: kept for it from now on.
                record = Store.Put(record with { Phase = StickyIpPhase.Retained, ReleasedAt = now, TagsInSync = false });
                Log.Info("sticky.retained", $"{record.Identity}'s sticky IP {record.Ip} is kept for it for {Options.Config.RetentionSeconds:0.#} s",
                    ("pod", record.Identity), ("ip", record.Ip));
                break;
            case StickyIpPhase.Retained when onThisNode is not null && !onThisNode.Contains(record.Ip):
                // The pod's tag on this node's ENI goes first: the new holder removed it, but a tag write of
                // ours whose answer was lost may have been retried after that, leaving a tag no claim reads
                // that takes one of the ENI's 50 until its next move. Safe: the IP is on no ENI here, only
                // this node puts IPs on its ENIs, and no ADD of the pod runs here while its gate is held. A
                // failure keeps the record for the next pass.
                await DeleteTagAsync(record.EniId, record.TagKey, cancellationToken).ConfigureAwait(false);
                Forget(record, "another node took it (the cloud no longer shows it on this node's ENIs)");
                return;
            case StickyIpPhase.Retained when now - record.ReleasedAt >= Options.Config.Retention:
                await ExpireAsync(record, cancellationToken).ConfigureAwait(false);
                return;
            case StickyIpPhase.Claiming or StickyIpPhase.Moving or StickyIpPhase.Expiring:
                await SettleAsync(record, cancellationToken).ConfigureAwait(false);
                return;
        }
        if (record.IsLocal && !record.TagsInSync)
            await SyncTagsAsync(record, cancellationToken).ConfigureAwait(false);
    }

    // The tag another node reads — the IP, the cluster, released (with when) once retained — on the ENI that
    // holds it; a hand-over's old ENI loses its tag once the new one has it.
    private async Task SyncTagsAsync(StickyIpRecord record, CancellationToken cancellationToken)
    {
        var tag = new StickyIpTag(record.Ip, Options.Cluster, record.Phase == StickyIpPhase.Retained ? record.ReleasedAt : null);
        await Cloud.CreateTagsAsync(record.EniId, new Dictionary<string, string>(StringComparer.Ordinal) { [record.TagKey] = tag.ToString() },
            cancellationToken).ConfigureAwait(false);
        if (record.OldEniId is { } old && old != record.EniId)
            await DeleteTagAsync(old, record.TagKey, cancellationToken).ConfigureAwait(false);
        Store.Put(record with { TagsInSync = true, OldEniId = null });
    }
}
