using System.Diagnostics;
using Fathom.Agent.Metrics;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Cloud;
using Fathom.Datapath;

namespace Fathom.Agent.Pools;

/// <summary>How an ADD is served from the pools.</summary>
public sealed record PoolAllocatorOptions
{
    /// <summary>The mode of an ADD that asks for none.</summary>
    public AllocationMode DefaultMode { get; init; } = AllocationMode.Shared;

    /// <summary>An underlay ADD that finds no ENI left gets a shared IP instead (when the request allows it).</summary>
    public bool FallbackToShared { get; init; }

    /// <summary>How long an ADD waits for the refiller when nothing is free.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>An underlay pod's MTU.</summary>
    public int Mtu { get; init; } = 9001;

    /// <summary>
    /// How long the pools' refill waits after a take: until no ADD has taken anything for this long
    /// (at most <see cref="RefillHoldMax"/> after the first take). Zero: at once. A take is the start
    /// of a pod's ADD, whose own kernel work — an ENI's move into the pod waits for RCU grace periods
    /// under RTNL (docs/benchmarks.md, "Where an underlay ADD goes") — runs slower while the agent and
    /// the cloud spend CPU on a refill, and, where an attach hot-plugs the new ENI on the node at
    /// once, waits for that device's own registration under RTNL. A refill that starts once a burst
    /// of ADDs has passed keeps the pods' moves to themselves; a pod that finds nothing warm wakes the
    /// refiller at once, as before.
    /// </summary>
    public TimeSpan RefillHold { get; init; } = TimeSpan.Zero;

    /// <summary>The longest a refill is held back by takes that keep coming (<see cref="RefillHold"/>).</summary>
    public TimeSpan RefillHoldMax { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// <c>AllocationService.AllocateNew</c> from the pools: an underlay ADD takes a warm
/// ENI whole, a shared one a free IP; when none is free it waits for the refiller up to a bound,
/// then fails with code 11 naming the cause (the instance's ENI limit, the subnet full, throttling,
/// still attaching). A host device or veth name still being torn down is waited for, never a failure.
/// </summary>
public sealed class PoolAllocator
{
    private readonly EniPool _pool;
    private readonly Refiller _refiller;
    private readonly Teardown.TeardownQueue _teardown;
    private readonly PoolAllocatorOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _allocations;
    private long _failures;
    // The held refill after takes (RefillHold): armed once, pushed back by each take up to RefillHoldMax.
    private ITimer? _refillTimer;
    private long _firstTake;
    private long _lastTake;
    private readonly LatencyHistogram _latency = new();

    /// <summary>An allocator over <paramref name="pool"/>.</summary>
    public PoolAllocator(EniPool pool, Refiller refiller, Teardown.TeardownQueue teardown, PoolAllocatorOptions options, TimeProvider? time = null)
    {
        _pool = pool;
        _refiller = refiller;
        _teardown = teardown;
        _options = options;
        _time = time ?? TimeProvider.System;
        _pool.Changed += () =>
        {
            TaskCompletionSource changed;
            lock (_gate)
            {
                changed = _changed;
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            changed.TrySetResult();
        };
    }

    /// <summary>Allocations served.</summary>
    public long Allocations => Interlocked.Read(ref _allocations);

    /// <summary>ADDs answered code 11.</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>ADD latencies (for metrics).</summary>
    internal LatencyHistogram Latency => _latency;

    /// <summary>Sticky pods' ENIs (issue 11 §3): an underlay ADD of a pod it claims is served through it. Null: none are sticky.</summary>
    public IStickyPods? StickyEnis { get; set; }

    /// <summary>Sticky pods' IPs (issue 11 §3): a shared ADD of a pod it claims is served through it. Null: none are sticky.</summary>
    public IStickyPods? StickyIps { get; set; }

    /// <summary>Serves one new attachment; a sticky pod's through its sticky ENI or IP, counted and timed like any other.</summary>
    public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var mode = request.RequestedMode ?? _options.DefaultMode;
        var sticky = mode == AllocationMode.Underlay ? StickyEnis : StickyIps;
        if (sticky is not null && sticky.Claims(request))
            return StickyAsync(sticky, request, mode, cancellationToken);
        return FromPoolAsync(request, mode, counted: true, cancellationToken);
    }

    private async ValueTask<AgentReply> StickyAsync(IStickyPods sticky, AllocateRequest request, AllocationMode mode, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var reply = await sticky.AllocateAsync(request, ct => FromPoolAsync(request, mode, counted: false, ct), cancellationToken).ConfigureAwait(false);
        if (reply is AllocatedReply) Counted(started);
        return reply;
    }

    private void Counted(long started)
    {
        Interlocked.Increment(ref _allocations);
        _latency.Observe(_time.GetElapsedTime(started));
    }

    // counted: false when a sticky pod's ADD asks (it is counted and timed whole, hand-over included).
    private async ValueTask<AgentReply> FromPoolAsync(AllocateRequest request, AllocationMode mode, bool counted, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        var hostVeth = NodeVeth.HostNameFor(request.ContainerId, request.IfName);
        // The same veth name for the same attachment: an earlier one being deleted must be gone first.
        if (_teardown.IsPending(hostVeth))
            await _teardown.WaitForDeviceAsync(hostVeth, cancellationToken).ConfigureAwait(false);
        var deadline = started + (long)(_options.Timeout.TotalSeconds * _time.TimestampFrequency);
        while (true)
        {
            Task changed;
            lock (_gate) changed = _changed.Task;
            try
            {
                Allocation? allocation = mode == AllocationMode.Underlay
                    ? _pool.TryTakeEni(key, _options.Mtu, request.Pod, request.NetnsPath)
                    : _pool.TryTakeIp(key, request.Pod, request.NetnsPath, hostVeth);
                if (allocation is null && mode == AllocationMode.Underlay && _options.FallbackToShared && request.FallbackAllowed
                    && AtEniLimit())
                    allocation = _pool.TryTakeIp(key, request.Pod, request.NetnsPath, hostVeth);
                if (allocation is not null)
                {
                    AfterTake();
                    if (allocation is UnderlayAllocation underlay && _teardown.IsPending(underlay.HostDevice))
                        await _teardown.WaitForDeviceAsync(underlay.HostDevice, cancellationToken).ConfigureAwait(false);
                    if (counted) Counted(started);
                    return new AllocatedReply { Allocation = allocation };
                }
            }
            catch (AllocationConflictException e)
            {
                return new ErrorReply { Code = AgentErrorCode.InvalidConfig, Message = $"fathom-agent cannot record {key}: {e.Message}" };
            }
            catch (IOException e)
            {
                return StateWriteFailure.Reply(_pool.Log, $"allocating {key}", e);
            }
            _refiller.Wake();
            var left = deadline - _time.GetTimestamp();
            if (left <= 0)
            {
                Interlocked.Increment(ref _failures);
                return new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = WhyNothingFree(mode) };
            }
            var wait = TimeSpan.FromSeconds((double)left / _time.TimestampFrequency);
            // Woken by any change of the pool; polled too, since a cooldown ends without an event.
            if (wait > TimeSpan.FromMilliseconds(250)) wait = TimeSpan.FromMilliseconds(250);
            await Task.WhenAny(changed, Task.Delay(wait, _time, cancellationToken)).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>
    /// Tells the pools a take happened (the refiller tops them up): at once without a
    /// <see cref="PoolAllocatorOptions.RefillHold"/>, else once takes have paused that long.
    /// </summary>
    private void AfterTake()
    {
        var hold = _options.RefillHold;
        if (hold <= TimeSpan.Zero)
        {
            _pool.Notify();
            return;
        }
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            _lastTake = now;
            if (_refillTimer is not null) return;
            _firstTake = now;
            _refillTimer = _time.CreateTimer(_ => RefillWhenQuiet(), null, hold, Timeout.InfiniteTimeSpan);
        }
    }

    // The held refill's timer: takes paused for RefillHold (or RefillHoldMax passed since the first)
    // → the pools are told; otherwise wait out the rest of the pause.
    private void RefillWhenQuiet()
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            var quiet = _time.GetElapsedTime(_lastTake, now);
            var held = _time.GetElapsedTime(_firstTake, now);
            if (quiet < _options.RefillHold && held < _options.RefillHoldMax)
            {
                var wait = _options.RefillHold - quiet;
                if (held + wait > _options.RefillHoldMax) wait = _options.RefillHoldMax - held;
                _refillTimer!.Change(wait, Timeout.InfiniteTimeSpan);
                return;
            }
            _refillTimer!.Dispose();
            _refillTimer = null;
        }
        _pool.Notify();
    }

    private bool AtEniLimit()
    {
        var snapshot = _pool.Snapshot();
        var max = Math.Min(snapshot.MaxEnis, _refiller.Targets.MaxEnis ?? int.MaxValue);
        // An ENI still attaching will be warm: only when none can come does the pod fall back.
        return snapshot.Enis.Count >= max && snapshot.AttachingEnis == 0 && !snapshot.Enis.Any(e => e.IsWarm);
    }

    /// <summary>The code-11 sentence: what keeps the pool from giving one more.</summary>
    internal string WhyNothingFree(AllocationMode mode)
    {
        var snapshot = _pool.Snapshot();
        var limits = _pool.Limits;
        var cap = _refiller.Targets.MaxEnis;
        var max = Math.Min(snapshot.MaxEnis, cap ?? int.MaxValue);
        var what = mode == AllocationMode.Underlay ? "no warm ENI for an underlay pod" : "no free secondary IP for a shared pod";
        var failure = _refiller.LastFailure;
        if (failure is { Kind: CloudErrorKind.SubnetFull or CloudErrorKind.LimitExceeded or CloudErrorKind.Throttled })
            return $"{what}: {failure.Reason}";
        var ipRoom = snapshot.Enis.Where(e => e.Primary || e.Role == EniRole.Hosting).Any(e => e.AssignedIps < snapshot.SecondaryIpsPerEni);
        if (snapshot.Enis.Count + snapshot.AttachingEnis >= max && (mode == AllocationMode.Underlay || !ipRoom))
            return $"{what}: the instance's ENI limit is reached (AttachmentLimitExceeded: {snapshot.Enis.Count} ENIs attached, "
                + (cap is { } c && c < limits.MaxEnis ? $"pools.maxEnis allows {c}" : $"{limits.InstanceType} allows {limits.MaxEnis}")
                + (mode == AllocationMode.Shared ? $", each with {snapshot.SecondaryIpsPerEni} secondary IPs, all in use or cooling" : "")
                + ")";
        if (failure is not null)
            return $"{what}: {failure.Reason}";
        if (snapshot.AttachingEnis > 0 || snapshot.PendingIps > 0)
            return $"{what} yet: still attaching ({snapshot.AttachingEnis} ENIs attaching, {snapshot.PendingIps} IPs being assigned) after {_options.Timeout.TotalSeconds:0.#} s";
        return $"{what} within {_options.Timeout.TotalSeconds:0.#} s (IPs cooling: {snapshot.Enis.Sum(e => e.CoolingIps)})";
    }
}

/// <summary>What serves the ADDs of sticky pods (their ENIs in underlay mode, their IPs in shared mode, docs/agent.md "Sticky pods"): the pool knows it only through this.</summary>
public interface IStickyPods
{
    /// <summary>Whether <paramref name="request"/>'s pod is sticky.</summary>
    bool Claims(AllocateRequest request);

    /// <summary>Serves a sticky pod's ADD: its own ENI or IP (here, or handed over from another node), or one from the pool (<paramref name="fromPool"/>) that becomes its own.</summary>
    ValueTask<AgentReply> AllocateAsync(AllocateRequest request, Func<CancellationToken, ValueTask<AgentReply>> fromPool, CancellationToken cancellationToken);
}
