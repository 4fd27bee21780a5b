using Fathom.Cloud;

namespace Fathom.Agent.Pools;

// The reconcile: the pool rebuilt from the cloud, and the leaked-ENI sweep (docs/agent.md "Reconcile").
public sealed partial class Refiller
{
    /// <summary>
    /// Releases what pods that are gone still hold (<see cref="ReleaseGoneAttachments"/>), rebuilds
    /// the pool from the cloud (an ENI attached but unknown joins it, one gone leaves it), then sweeps
    /// leaked ENIs: detached ENIs tagged for this cluster, this node's at once (unless
    /// being attached now), other nodes' once older than <see cref="RefillerOptions.LeakGrace"/>.
    /// </summary>
    public async Task ReconcileAsync(CancellationToken cancellationToken = default)
    {
        // First, and without the cloud (which may be throttling): what pods that are gone still hold.
        if (ReleaseGoneAttachments?.Invoke() > 0)
            _pool.Notify();
        // Begun before the describe: an ENI attached, released or changed here while it is on its way keeps the pool's newer view.
        using (var reload = _pool.BeginReload())
        {
            var attached = await _cloud.DescribeEnisAsync(EniQuery.ByInstance(_pool.Self.InstanceId), cancellationToken).ConfigureAwait(false);
            HashSet<string> inFlight;
            lock (_gate) inFlight = [.. _inFlight];
            _pool.Load([.. attached.Where(e => !inFlight.Contains(e.EniId))], reload);
        }
        var tagged = await _cloud.DescribeEnisAsync(EniQuery.ByTags(new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [EniTags.Cluster] = _options.Cluster,
        }), cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        foreach (var eni in tagged.Where(e => e.AttachmentState == EniAttachmentState.Detached))
        {
            if (BeingAttached(eni))
                continue;
            if (eni.Tags.ContainsKey(EniTags.Sticky) && !await IsStickyOrphanAsync(eni, now, cancellationToken).ConfigureAwait(false))
                continue;
            var mine = eni.Tags.TryGetValue(EniTags.Node, out var node) && node == _options.NodeName;
            var old = EniTags.CreatedAtOf(eni.Tags) is not { } created || now - created >= _options.LeakGrace;
            if (!mine && !old) continue;
            await DeleteLeakedAsync(eni.EniId, node, cancellationToken).ConfigureAwait(false);
        }
        _pool.Notify();
    }

    /// <summary>
    /// Whether <paramref name="eni"/> is one this agent is creating or attaching right now: known by id
    /// once created, and before that (its creation under way) by a created-at tag no older than the
    /// oldest creation under way (the tag has whole seconds, hence the second of slack).
    /// </summary>
    private bool BeingAttached(Eni eni)
    {
        lock (_gate)
        {
            if (_inFlight.Contains(eni.EniId))
                return true;
            return _creating.Count > 0
                && eni.Tags.TryGetValue(EniTags.Node, out var node) && node == _options.NodeName
                && EniTags.CreatedAtOf(eni.Tags) is { } created && created >= _creating.Min() - TimeSpan.FromSeconds(1);
        }
    }

    /// <summary>
    /// Deletes a leaked ENI. One gone meanwhile is no error; one that cannot be deleted (attached by
    /// someone since the listing, throttled) is logged and left to the next sweep, not a failed reconcile.
    /// </summary>
    private async Task DeleteLeakedAsync(string eniId, string? node, CancellationToken cancellationToken)
    {
        try
        {
            await _cloud.DeleteEniIfPresentAsync(eniId, cancellationToken).ConfigureAwait(false);
            _log.Info("pool.leak-deleted", $"deleted leaked {eniId} (detached, tagged for node {node})", ("eni", eniId), ("node", node));
        }
        catch (CloudException e)
        {
            _log.Warning("pool.leak-delete-failed", $"could not delete leaked {eniId}, the next sweep will try again: {e.Message}",
                ("eni", eniId), ("node", node));
        }
    }

    /// <summary>
    /// Whether a detached sticky ENI is left over: released longer ago than <see cref="RefillerOptions.StickyRetention"/>
    /// plus the grace, and held by no record here. One without a released time (its instance went away under its pod)
    /// gets one now, so its age counts from the first sweep that saw it detached.
    /// </summary>
    private async Task<bool> IsStickyOrphanAsync(Eni eni, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_pool.Reserved?.Invoke(eni.EniId) == true)
            return false;
        if (EniTags.StickyReleasedAt(eni.Tags) is not { } released)
        {
            try
            {
                await _cloud.CreateTagsAsync(eni.EniId, new Dictionary<string, string> { [EniTags.StickyReleased] = EniTags.StickyReleasedValue(now) },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
            {
            }
            return false;
        }
        return now - released >= (_options.StickyRetention ?? TimeSpan.FromDays(1)) + _options.LeakGrace;
    }
}
