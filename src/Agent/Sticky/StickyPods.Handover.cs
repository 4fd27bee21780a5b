using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

// What both kinds' cloud side shares: the wait until the old node released what the pod claims, the
// settling of a hand-over cut short, and the background pass over the records.
public abstract partial class StickyPods<TRecord, TPhase>
{
    /// <summary>
    /// Until <paramref name="released"/> says the old node let go of what the pod claims on <paramref name="eni"/>
    /// (or the ENI is detached, or here: the kind's test), looking again with a backoff from 50 ms to 1 s,
    /// bounded by the hand-over time-out: past it, code 11 saying where it still is (<paramref name="stillHeld"/>)
    /// and what is awaited. <paramref name="released"/> throws <see cref="StickyHandoverException"/> when waiting
    /// is pointless; an ENI deleted meanwhile is too (<paramref name="deleted"/>).
    /// </summary>
    private protected async Task<Eni> WaitReleasedAsync(Eni eni, Func<Eni, bool> released, Func<Eni, string> stillHeld, string deleted,
        CancellationToken cancellationToken)
    {
        var timeout = TimeSpan.FromSeconds(Options.Config.HandoverTimeoutSeconds);
        var started = Time.GetTimestamp();
        var interval = TimeSpan.FromMilliseconds(50);
        while (!released(eni))
        {
            var left = timeout - Time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
                throw new StickyHandoverException($"{stillHeld(eni)} and not released after {timeout.TotalSeconds:0.#} s: the old pod still runs there or "
                    + "its node's agent is down; it moves once that node's DEL is done or the instance is gone");
            await Task.Delay(interval < left ? interval : left, Time, cancellationToken).ConfigureAwait(false);
            interval = TimeSpan.FromTicks(Math.Min(interval.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            eni = await DescribeOneAsync(eni.EniId, cancellationToken).ConfigureAwait(false) ?? throw new StickyHandoverException(deleted);
        }
        return eni;
    }

    /// <summary>
    /// After a hand-over failed (or was cancelled): settles its record as it is on disk now (a cloud failure
    /// leaves it to the loop) and returns the record kept for the pod when the settling found the hand-over
    /// done after all — a call whose answer was lost (a time-out after the cloud did the work) and whose
    /// retries were refused or failed too — or null.
    /// </summary>
    private async Task<TRecord?> SettleFailedHandOverAsync(TRecord record)
    {
        try
        {
            await SettleAsync(Store.Get(record.Identity) ?? record, CancellationToken.None).ConfigureAwait(false);
            return Store.Get(record.Identity) is { IsRetained: true } kept ? kept : null;
        }
        catch (CloudException settle)
        {
            Log.Warning("sticky.settle-failed", $"settling {record.Identity}'s {What} {record.Resource} after a failed hand-over failed, retried in the background: {settle.Reason}",
                ("pod", record.Identity), (ResourceField, record.Resource));
            return null;
        }
    }

    /// <summary>
    /// Runs a hand-over (<paramref name="handOver"/>, its record <paramref name="record"/> as first written); when a
    /// call of it fails, settles the record: a hand-over the cloud shows done all the same goes on (the record kept
    /// for the pod is returned, the pod's ADD takes it), any other failure is thrown once settled.
    /// </summary>
    private protected async Task<TRecord> SettledAsync(TRecord record, Func<Task<TRecord>> handOver)
    {
        try
        {
            return await handOver().ConfigureAwait(false);
        }
        catch (CloudException e)
        {
            if (await SettleFailedHandOverAsync(record).ConfigureAwait(false) is not { } kept)
                throw;
            Log.Info("sticky.done-despite-failure", $"{record.Identity}'s hand-over answered {e.Code}, but the cloud shows its {What} {kept.Resource} here: "
                + "an answer was lost; the pod gets it", ("pod", record.Identity), (ResourceField, kept.Resource), ("code", e.Code));
            return kept;
        }
        catch (Exception e) when (e is StickyHandoverException or OperationCanceledException)
        {
            await SettleFailedHandOverAsync(record).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The ENI <paramref name="eniId"/> as the cloud describes it now, or null when it is gone (or no id).</summary>
    private protected async Task<Eni?> DescribeOneAsync(string eniId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(eniId)) return null;
        try
        {
            return (await Cloud.DescribeEnisAsync(EniQuery.ByIds(eniId), cancellationToken).ConfigureAwait(false)).FirstOrDefault(e => e.EniId == eniId);
        }
        catch (CloudException e) when (e.Kind == CloudErrorKind.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// One pass over the records (the loop's; tests call it directly on a fake clock): each pod whose gate is
    /// free (<see cref="TickOneAsync"/>); while some record is retained, at most once a check interval, what
    /// the cloud shows on this node (<see cref="OnThisNode"/>), so a retained one another node took is seen.
    /// </summary>
    internal async Task TickAsync(CancellationToken cancellationToken = default)
    {
        var now = Time.GetUtcNow();
        Gates.Prune();
        HashSet<string>? onThisNode = null;
        if (now >= _nextCheck && Store.All().Any(r => r.IsRetained))
        {
            onThisNode = OnThisNode(await Cloud.DescribeEnisAsync(EniQuery.ByInstance(Self), cancellationToken).ConfigureAwait(false));
            _nextCheck = now + TimeSpan.FromSeconds(Options.Config.CheckIntervalSeconds);
        }
        // A pod an ADD is at is skipped: the next pass comes soon.
        await Gates.ForEachIdleAsync([.. Store.All().Select(r => r.Identity)], async identity =>
        {
            if (Store.Get(identity) is not { } current) return;
            try
            {
                await TickOneAsync(current, onThisNode, now, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e)
            {
                Log.Warning("sticky.retry", $"{current.Identity}'s {What} {current.Resource}: {e.Reason}; retried", ("pod", current.Identity), (ResourceField, current.Resource));
            }
        }).ConfigureAwait(false);
    }

    /// <summary>What of the kind the cloud shows on this node's ENIs (their ids, their IPs): a retained record not among them was taken.</summary>
    private protected abstract HashSet<string> OnThisNode(IReadOnlyList<Eni> enis);

    /// <summary>One record's step in the background pass, its gate held; <paramref name="onThisNode"/> null when not looked at this pass.</summary>
    private protected abstract Task TickOneAsync(TRecord record, HashSet<string>? onThisNode, DateTimeOffset now, CancellationToken cancellationToken);
}
