using Fathom.Agent.Protocol;
using Fathom.Cloud;

namespace Fathom.Agent.Pools;

/// <summary>What the refiller needs besides the pool: where new ENIs go and how it is tagged.</summary>
public sealed record RefillerOptions
{
    /// <summary>The cluster tag of every ENI created.</summary>
    public required string Cluster { get; init; }

    /// <summary>The node tag of every ENI created.</summary>
    public required string NodeName { get; init; }

    /// <summary>The targets.</summary>
    public PoolTargets Targets { get; init; } = new();

    /// <summary>Subnets of new ENIs, tried in order (the next on SubnetFull); empty: the primary ENI's.</summary>
    public IReadOnlyList<string> SubnetIds { get; init; } = [];

    /// <summary>Security groups of new ENIs; empty: the primary ENI's.</summary>
    public IReadOnlyList<string> SecurityGroupIds { get; init; } = [];

    /// <summary>How often the refiller looks when nothing wakes it.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often reconcile (and the leaked-ENI sweep) runs.</summary>
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>ENIs created and attached at once.</summary>
    public int ParallelAttaches { get; init; } = 4;

    /// <summary>How the attach is waited for (attached, then visible in the metadata service).</summary>
    public AttachmentWaitOptions AttachmentWait { get; init; } = new();

    /// <summary>A detached ENI tagged for this cluster by another node is deleted once this old (its creator may still be about to attach it).</summary>
    public TimeSpan LeakGrace { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// A detached sticky ENI (tagged for a pod, issue 11 §3: kept for it, or between two nodes in a
    /// hand-over) is deleted only once released longer ago than this retention plus <see cref="LeakGrace"/>
    /// (this node's <c>pools.sticky.retentionSeconds</c>; null, on a node without sticky pods: a day).
    /// </summary>
    public TimeSpan? StickyRetention { get; init; }
}

/// <summary>The last failure of a cloud call the refiller made, for an ADD that waits in vain to name.</summary>
/// <param name="Kind">How the cloud failed.</param>
/// <param name="Reason">The sentence (<see cref="CloudException.Reason"/>).</param>
/// <param name="At">When.</param>
public sealed record RefillFailure(CloudErrorKind Kind, string Reason, DateTimeOffset At);

/// <summary>
/// Keeps the pool at its targets (DESIGN §4): woken by takes and returns and every
/// <see cref="RefillerOptions.Interval"/>, it plans (<see cref="PoolPlanner"/>) and executes through
/// the cloud — several attaches in parallel, never one ENI per loop. Failures are recorded with
/// their reason so a waiting ADD can say why (<see cref="LastFailure"/>); throttling and 5xx are
/// retried by the <see cref="ResilientCloudProvider"/> underneath. Reconcile runs on start and
/// every <see cref="RefillerOptions.ReconcileInterval"/>: the pool rebuilt from the cloud, and the
/// leaked-ENI sweep.
/// </summary>
public sealed partial class Refiller : IAsyncDisposable
{
    private readonly EniPool _pool;
    private readonly ICloudProvider _cloud;
    private readonly RefillerOptions _options;
    private readonly AgentLog _log;
    private readonly TimeProvider _time;
    private readonly WakeableLoop _loop = new();
    private readonly Lock _gate = new();
    private readonly HashSet<string> _inFlight = new(StringComparer.Ordinal);
    // When each CreateNetworkInterface under way began: its ENI exists, detached and tagged for this
    // node, before its id is in _inFlight, and the sweep must not take it for a leak meanwhile.
    private readonly List<DateTimeOffset> _creating = [];
    private readonly HashSet<int> _indexesTaken = [];
    private readonly ICloudOutcomes? _outcomes;
    private RefillFailure? _lastFailure;
    private DateTimeOffset _nextReconcile;
    private volatile bool _reconcileRequested;

    /// <summary>A refiller of <paramref name="pool"/>; call <see cref="StartAsync"/>.</summary>
    public Refiller(EniPool pool, ICloudProvider cloud, RefillerOptions options, AgentLog log, TimeProvider? time = null)
    {
        _pool = pool;
        _cloud = cloud;
        _options = options;
        _log = log;
        _time = time ?? TimeProvider.System;
        _pool.Changed += Wake;
        _outcomes = cloud as ICloudOutcomes;
        if (_outcomes is not null) _outcomes.OutcomeUncertain += OnOutcomeUncertain;
    }

    // A change whose answer was lost may have happened anyway, even where a retry then succeeded (IPs
    // assigned twice over): the pool describes the cloud again before its next pass.
    private void OnOutcomeUncertain(CloudOperation operation)
    {
        _log.Info("pool.outcome-uncertain", $"{operation.ActionName()} failed in a way that may have taken effect: the pool reconciles with the cloud before its next pass",
            ("action", operation.ActionName()));
        RequestReconcile();
    }

    /// <summary>The last cloud failure, or null once a pass succeeded after it.</summary>
    public RefillFailure? LastFailure
    {
        get { lock (_gate) return _lastFailure; }
    }

    /// <summary>Passes completed (tests wait on it).</summary>
    public int Passes { get; private set; }

    /// <summary>The targets.</summary>
    public PoolTargets Targets => _options.Targets;

    /// <summary>
    /// Run first in every reconcile: releases the allocations whose pods are gone
    /// (<see cref="Teardown.AttachmentRelease.ReleaseGone"/>); returns how many. Null: none are looked for.
    /// </summary>
    public Func<int>? ReleaseGoneAttachments { get; init; }

    /// <summary>Reconciles once (the pool loaded from the cloud, leaks swept), then starts the loop.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await ReconcileAsync(cancellationToken).ConfigureAwait(false);
        _nextReconcile = _time.GetUtcNow() + _options.ReconcileInterval;
        _loop.Start(RunAsync);
    }

    /// <summary>
    /// Makes the loop reconcile now rather than at its next interval: the node's devices changed under
    /// the provider (host NICs plugged or unplugged, docs/agent.md "Provider host").
    /// </summary>
    public void RequestReconcile()
    {
        _reconcileRequested = true;
        Wake();
    }

    /// <summary>Wakes the loop now.</summary>
    public void Wake() => _loop.Wake();

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var failures = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var woken = _loop.NextWake();
            var acted = false;
            var failed = false;
            try
            {
                if (_reconcileRequested || _time.GetUtcNow() >= _nextReconcile)
                {
                    _reconcileRequested = false;
                    try
                    {
                        await ReconcileAsync(cancellationToken).ConfigureAwait(false);
                        _nextReconcile = _time.GetUtcNow() + _options.ReconcileInterval;
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                    {
                        // Tried again after the back-off. The pass runs meanwhile: all a stale view can make
                        // it do is a call the cloud refuses or one wasted, never a resource given twice.
                        _reconcileRequested = true;
                        failed = true;
                        Record(e);
                    }
                }
                acted = await PassAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                failed = true;
                Record(e);
            }
            failures = failed ? failures + 1 : 0;
            Passes++;
            if (acted && !failed) continue; // more may be needed at once: plan again
            // After failures back off (200 ms doubling), up to the interval; a take or return wakes it sooner.
            var pause = failures == 0 ? _options.Interval
                : TimeSpan.FromTicks(Math.Min(_options.Interval.Ticks, TimeSpan.FromMilliseconds(200).Ticks << Math.Min(failures - 1, 10)));
            try
            {
                await Task.WhenAny(woken, Task.Delay(pause, _time, cancellationToken)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Record(Exception e)
    {
        var failure = e is CloudException cloud
            ? new RefillFailure(cloud.Kind, cloud.Reason, _time.GetUtcNow())
            : new RefillFailure(CloudErrorKind.Transient, $"the pool refill failed: {e.Message}", _time.GetUtcNow());
        lock (_gate) _lastFailure = failure;
        _log.Warning("pool.refill-failed", failure.Reason, ("kind", failure.Kind.ToString()));
    }

    /// <summary>One plan executed; true when it had something to do and did it all.</summary>
    internal async Task<bool> PassAsync(CancellationToken cancellationToken)
    {
        _pool.PrepareDevices();
        var actions = PoolPlanner.Plan(_pool.Snapshot(), _options.Targets);
        if (actions.Count == 0)
        {
            lock (_gate) _lastFailure = null;
            return false;
        }
        var tasks = actions.Select(a => ExecuteAsync(a, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch
        {
            var errors = tasks.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).ToList();
            // A call that failed may have taken effect all the same (its answer lost to a time-out or a
            // 5xx, the retry refused by the changed state): an ENI attached at a device index the pool
            // does not know of — every attach there refused until the next periodic reconcile —, IPs
            // assigned or unassigned behind the pool's back, an ENI detached. The next iteration
            // reconciles first: the cloud's view, not a guess, decides what the pool holds. Unless every
            // failure is a refusal that changed nothing: a node whose subnet is full, or a cloud throttling
            // the account, would otherwise add two DescribeNetworkInterfaces to every failed create.
            if (errors.Any(e => e is not RefusedUnchanged)) _reconcileRequested = true;
            errors = [.. errors.Select(e => e is RefusedUnchanged refused ? refused.Refusal : e)];
            // Every failure is logged; the first one (the most telling is a limit or a full subnet) is thrown.
            foreach (var error in errors.Skip(1)) Record(error);
            throw errors.OrderBy(e => e is CloudException { IsRetryable: false } ? 0 : 1).First();
        }
        lock (_gate) _lastFailure = null;
        return true;
    }

    private Task ExecuteAsync(PoolAction action, CancellationToken cancellationToken) => action switch
    {
        AttachEnis attach => AttachAsync(attach.Count, cancellationToken),
        AssignIps assign => AssignAsync(assign, cancellationToken),
        UnassignIps unassign => UnassignAsync(unassign, cancellationToken),
        ReleaseEni release => ReleaseAsync(release.EniId, cancellationToken),
        _ => Task.CompletedTask,
    };

    private async Task AttachAsync(int count, CancellationToken cancellationToken)
    {
        using var slots = new SemaphoreSlim(Math.Max(1, _options.ParallelAttaches));
        lock (_gate) _pool.Attaching += count;
        var attaches = Enumerable.Range(0, count).Select(async _ =>
        {
            await slots.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                await AttachOneAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                slots.Release();
                lock (_gate) _pool.Attaching--;
                _pool.Notify();
            }
        }).ToList();
        try
        {
            await Task.WhenAll(attaches).ConfigureAwait(false);
        }
        catch when (attaches.Any(t => t.Exception?.InnerException is { } e && e is not RefusedUnchanged))
        {
            // One failure is thrown: one that may have changed something rather than a refusal that did not,
            // so that the pass reconciles.
            throw attaches.Select(t => t.Exception?.InnerException).First(e => e is not null and not RefusedUnchanged)!;
        }
        finally
        {
            _pool.Notify();
        }
    }

    private async Task AttachOneAsync(CancellationToken cancellationToken)
    {
        var self = _pool.Self;
        var subnets = _options.SubnetIds.Count > 0 ? _options.SubnetIds : [self.SubnetId];
        var since = _time.GetUtcNow();
        lock (_gate) _creating.Add(since);
        Eni? created;
        try
        {
            created = await CreateInAsync(subnets, self, cancellationToken).ConfigureAwait(false);
            lock (_gate) _inFlight.Add(created.EniId);
        }
        catch (CloudException e) when (Unchanged(e))
        {
            throw new RefusedUnchanged(e);
        }
        finally
        {
            lock (_gate) _creating.Remove(since);
        }
        int index;
        lock (_gate)
        {
            var used = _pool.DeviceIndexes();
            index = Enumerable.Range(1, 63).First(i => !used.Contains(i) && !_indexesTaken.Contains(i));
            _indexesTaken.Add(index);
        }
        string? attachmentId = null;
        try
        {
            attachmentId = await AttachOrFindAsync(created.EniId, index, cancellationToken).ConfigureAwait(false);
            var attached = await _cloud.WaitForAttachmentAsync(created.EniId, attachmentId, _options.AttachmentWait, _time, cancellationToken)
                .ConfigureAwait(false);
            _pool.Add(attached);
            _log.Info("pool.eni-attached", $"{attached.EniId} attached at device index {attached.DeviceIndex ?? index}",
                ("eni", attached.EniId), ("index", attached.DeviceIndex ?? index), ("subnet", attached.SubnetId));
        }
        catch (Exception e) when (e is CloudException or OperationCanceledException)
        {
            // Not ours to keep: give it back now (best effort; the leaked-ENI sweep deletes what this misses).
            // If the discard fails with the ENI still attached (the wait for it gave up, or the attach took
            // effect where AttachOrFindAsync could not see it), the reconcile the failed pass asks for adopts it.
            await DiscardAsync(created.EniId, attachmentId).ConfigureAwait(false);
            throw;
        }
        finally
        {
            lock (_gate)
            {
                _inFlight.Remove(created.EniId);
                _indexesTaken.Remove(index);
            }
        }
    }

    /// <summary>
    /// Attaches <paramref name="eniId"/> here at <paramref name="index"/>; returns the attachment. When
    /// the call fails but the ENI is attached here all the same (an earlier try's answer was lost and
    /// its retry refused: InvalidNetworkInterface.InUse), that attachment is the one wanted.
    /// </summary>
    private async Task<string> AttachOrFindAsync(string eniId, int index, CancellationToken cancellationToken)
    {
        try
        {
            return await _cloud.AttachEniAsync(eniId, _pool.Self.InstanceId, index, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException failed)
        {
            Eni? found = null;
            try
            {
                found = (await _cloud.DescribeEnisAsync(EniQuery.ByIds(eniId), cancellationToken).ConfigureAwait(false)).FirstOrDefault(e => e.EniId == eniId);
            }
            catch (CloudException)
            {
                // Not known either way: the attach's own failure is the one to report.
            }
            if (found is not { AttachmentId: { } attachment } || found.InstanceId != _pool.Self.InstanceId)
                throw;
            _log.Info("pool.attach-found", $"{eniId}'s attach answered {failed.Code}, but it is attached here ({attachment}): an earlier try's answer was lost",
                ("eni", eniId), ("attachment", attachment));
            return attachment;
        }
    }

    // Whether a create's or an assign's failure certainly changed nothing: the cloud refused it (a full
    // subnet, a limit, throttling past the retries, an invalid request) — such a call never takes effect,
    // and the pool changes only once it succeeded. A transient failure may have taken effect (its answer
    // lost): not this; where a refusal followed a lost answer, the provider's OutcomeUncertain has asked
    // for the reconcile already — which only a provider that is ICloudOutcomes raises, so the failures of
    // one that is not always reconcile.
    private bool Unchanged(CloudException e) => e.Kind != CloudErrorKind.Transient && _outcomes is not null;

    /// <summary>A create's or an assign's refusal that changed nothing (<see cref="Unchanged"/>): its failed pass needs no reconcile.</summary>
    private sealed class RefusedUnchanged(CloudException refusal) : Exception(refusal.Message, refusal)
    {
        public CloudException Refusal => refusal;
    }

    /// <summary>Creates an ENI for this node in the first of <paramref name="subnets"/> that has room.</summary>
    private async Task<Eni> CreateInAsync(IReadOnlyList<string> subnets, InstanceIdentity self, CancellationToken cancellationToken)
    {
        Eni? created = null;
        CloudException? full = null;
        foreach (var subnet in subnets)
        {
            try
            {
                created = await _cloud.CreateEniAsync(new CreateEniRequest
                {
                    SubnetId = subnet,
                    SecurityGroupIds = _options.SecurityGroupIds.Count > 0 ? _options.SecurityGroupIds : self.SecurityGroupIds,
                    Description = $"fathom {_options.Cluster}/{_options.NodeName}",
                    Tags = EniTags.For(_options.Cluster, _options.NodeName, _time.GetUtcNow()),
                }, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (CloudException e) when (e.Kind == CloudErrorKind.SubnetFull)
            {
                full = e;
            }
        }
        return created ?? throw full!;
    }

    private async Task DiscardAsync(string eniId, string? attachmentId)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30), _time);
            if (attachmentId is not null)
            {
                await _cloud.DetachEniAsync(attachmentId, force: true, timeout.Token).ConfigureAwait(false);
                await _cloud.WaitForDetachmentAsync(eniId, _options.AttachmentWait, _time, timeout.Token).ConfigureAwait(false);
            }
            await _cloud.DeleteEniIfPresentAsync(eniId, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is CloudException or OperationCanceledException)
        {
            _log.Warning("pool.discard-failed", $"could not delete {eniId} after a failed attach, the leaked-ENI sweep will: {e.Message}", ("eni", eniId));
        }
    }

    private async Task AssignAsync(AssignIps assign, CancellationToken cancellationToken)
    {
        lock (_gate) _pool.PendingIps += assign.Count;
        try
        {
            var ips = await _cloud.AssignPrivateIpsAsync(assign.EniId, assign.Count, cancellationToken).ConfigureAwait(false);
            _pool.AddIps(assign.EniId, ips);
        }
        catch (CloudException e) when (Unchanged(e))
        {
            throw new RefusedUnchanged(e);
        }
        finally
        {
            lock (_gate) _pool.PendingIps -= assign.Count;
            _pool.Notify();
        }
    }

    private async Task UnassignAsync(UnassignIps unassign, CancellationToken cancellationToken)
    {
        var ips = _pool.TakeForUnassign(unassign.EniId, unassign.Count);
        if (ips.Count == 0) return;
        // Not put back when the call fails: it may have taken effect (its answer lost, the retry then
        // refused: "not assigned"), and an IP listed free that the ENI no longer has would go to a pod
        // whose traffic the cloud drops. The reconcile the failed pass asks for lists again those the
        // ENI still has.
        await _cloud.UnassignPrivateIpsAsync(unassign.EniId, ips, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReleaseAsync(string eniId, CancellationToken cancellationToken)
    {
        if (!_pool.TryStartRelease(eniId)) return;
        var eni = _pool.Enis().FirstOrDefault(e => e.EniId == eniId);
        if (eni?.AttachmentId is { } attachment)
        {
            try
            {
                await _cloud.DetachEniIfAttachedAsync(attachment, force: false, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                // Detached or not, the reconcile the failed pass asks for says: attached, it is warm again
                // (it was held back from takes meanwhile); detaching or detached, it leaves the pool.
                _pool.ReleaseFailed(eniId);
                throw;
            }
            _pool.Remove(eniId); // detached: whatever happens next, the sweep finds it by its tags
            await _cloud.WaitForDetachmentAsync(eniId, _options.AttachmentWait, _time, cancellationToken).ConfigureAwait(false);
        }
        _pool.Remove(eniId);
        await _cloud.DeleteEniIfPresentAsync(eniId, cancellationToken).ConfigureAwait(false);
        _log.Info("pool.eni-released", $"{eniId} detached and deleted", ("eni", eniId));
    }

    /// <summary>Stops the loop; what was in flight is found again by the next start's reconcile.</summary>
    public async ValueTask DisposeAsync()
    {
        _pool.Changed -= Wake;
        if (_outcomes is not null) _outcomes.OutcomeUncertain -= OnOutcomeUncertain;
        await _loop.DisposeAsync().ConfigureAwait(false);
    }
}
