using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// The background side: a DEL done makes the IP retained and its tag released; retention expiry; a retained
// IP another node took is forgotten (never unassigned); tags kept in line with the records.
public sealed partial class StickyIps
{
    /// <summary>One pass over the records (the loop's; tests call it directly on a fake clock).</summary>
    internal async Task TickAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        _gates.Prune();
        HashSet<string>? onThisNode = null;
        if (now >= _nextCheck && Store.All().Any(r => r.Phase == StickyIpPhase.Retained))
        {
            var enis = await _cloud.DescribeEnisAsync(EniQuery.ByInstance(Self), cancellationToken).ConfigureAwait(false);
            onThisNode = [.. enis.SelectMany(e => e.SecondaryIps).Select(ip => ip.ToString())];
            _nextCheck = now + TimeSpan.FromSeconds(_options.Config.CheckIntervalSeconds);
        }
        // A pod an ADD is at is skipped: the next pass comes soon.
        await _gates.ForEachIdleAsync([.. Store.All().Select(r => r.Identity)], async identity =>
        {
            if (Store.Get(identity) is not { } current) return;
            try
            {
                await TickOneAsync(current, onThisNode, now, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e)
            {
                _log.Warning("sticky.retry", $"{current.Identity}'s sticky IP {current.Ip}: {e.Reason}; retried", ("pod", current.Identity), ("ip", current.Ip));
            }
        }).ConfigureAwait(false);
    }

    private async Task TickOneAsync(StickyIpRecord record, HashSet<string>? onThisNode, DateTimeOffset now, CancellationToken cancellationToken)
    {
        switch (record.Phase)
        {
            case StickyIpPhase.Held when !_allocations.TryGetByIp(record.Ip, out _) && !_teardown.PendingPodIps().Contains(record.Ip):
                // The pod's DEL is done and its rules are gone: kept for it from now on.
                record = Store.Put(record with { Phase = StickyIpPhase.Retained, ReleasedAt = now, TagsInSync = false });
                _log.Info("sticky.retained", $"{record.Identity}'s sticky IP {record.Ip} is kept for it for {_options.Config.RetentionSeconds:0.#} s",
                    ("pod", record.Identity), ("ip", record.Ip));
                break;
            case StickyIpPhase.Retained when onThisNode is not null && !onThisNode.Contains(record.Ip):
                Forget(record, "another node took it (the cloud no longer shows it on this node's ENIs)");
                return;
            case StickyIpPhase.Retained when now - record.ReleasedAt >= _options.Config.Retention:
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
        var tag = new StickyIpTag(record.Ip, _options.Cluster, record.Phase == StickyIpPhase.Retained ? record.ReleasedAt : null);
        await _cloud.CreateTagsAsync(record.EniId, new Dictionary<string, string>(StringComparer.Ordinal) { [record.TagKey] = tag.ToString() },
            cancellationToken).ConfigureAwait(false);
        if (record.OldEniId is { } old && old != record.EniId)
            await DeleteTagAsync(old, record.TagKey, cancellationToken).ConfigureAwait(false);
        Store.Put(record with { TagsInSync = true, OldEniId = null });
    }
}
