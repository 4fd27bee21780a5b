using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Cloud;

namespace Fathom.Agent.Sticky;

/// <summary>
/// What both kinds of sticky pods (issue 11 §3, docs/agent.md "Sticky ENIs") do alike: <see cref="StickyEnis"/>
/// (underlay: the pod's ENI follows it) and <see cref="StickyIps"/> (shared: its secondary IP does). Both
/// keep a durable record per pod and a gate per pod; recover on start what a previous run left half
/// done; serve a sticky ADD under its pod's gate and turn failures into the same replies; wait, bounded,
/// for the pod's ENI or IP to be usable here and for the old node to release it before a hand-over;
/// settle a hand-over cut short; and pass over their records in a background loop. What each kind
/// does with the cloud (attach and detach an ENI, or reassign an IP), its phases and its tags stay in it.
/// </summary>
/// <typeparam name="TRecord">The kind's record.</typeparam>
/// <typeparam name="TPhase">The kind's phases.</typeparam>
public abstract partial class StickyPods<TRecord, TPhase> : IStickyPods, IAsyncDisposable
    where TRecord : StickyPodRecord<TPhase>
    where TPhase : struct, Enum
{
    private readonly WakeableLoop _loop = new();
    private DateTimeOffset _nextCheck;

    private protected StickyPods(EniPool pool, ICloudProvider cloud, StickyRecordStore<TRecord> store, AllocationStore allocations,
        TeardownQueue teardown, StickyEnisOptions options, AgentLog log, TimeProvider? time)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(cloud);
        ArgumentNullException.ThrowIfNull(options);
        Pool = pool;
        Cloud = cloud;
        Store = store;
        Allocations = allocations;
        Teardown = teardown;
        Options = options;
        Log = log;
        Time = time ?? TimeProvider.System;
        Gates = new StickyGates(Time);
        Pool.Changed += Wake;
    }

    /// <summary>The durable records.</summary>
    public StickyRecordStore<TRecord> Store { get; }

    /// <summary>Test hook: called with a step name before each cloud call of a hand-over or expiry; throwing there is a crash.</summary>
    internal Action<string>? CrashPoint { get; set; }

    private protected EniPool Pool { get; }
    private protected ICloudProvider Cloud { get; }
    private protected AllocationStore Allocations { get; }
    private protected TeardownQueue Teardown { get; }
    private protected StickyEnisOptions Options { get; }
    private protected AgentLog Log { get; }
    private protected TimeProvider Time { get; }
    private protected StickyGates Gates { get; }

    private protected string Self => Pool.Self.InstanceId;

    /// <summary>What is kept for a pod, in messages: "sticky ENI", "sticky IP".</summary>
    private protected abstract string What { get; }

    /// <summary>The log field naming what a record keeps: "eni", "ip".</summary>
    private protected abstract string ResourceField { get; }

    /// <inheritdoc/>
    public bool Claims(AllocateRequest request) => Options.Config.Matches(request?.Pod);

    /// <summary>Whether the pool must keep <paramref name="resource"/> (an ENI id, an IP) out of its own use.</summary>
    public bool IsReserved(string resource)
    {
        if (Store.Names(resource)) return true;
        return Gates.IsGone(resource);
    }

    /// <summary>Settles what a previous run left half done (hand-overs, expiries), then starts the background loop.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await RecoverAsync(cancellationToken).ConfigureAwait(false);
        _loop.StartPasses(TickAsync, TimeSpan.FromSeconds(Math.Min(1, Options.Config.CheckIntervalSeconds)), Time,
            e => Log.Warning("sticky.tick-failed", $"{What}s: {e.Message}; retried", ("error", e.Message)));
    }

    /// <summary>Settles every record that is not local (<see cref="SettleAsync"/>); a cloud failure leaves it to the loop.</summary>
    internal async Task RecoverAsync(CancellationToken cancellationToken = default)
    {
        foreach (var record in Store.All().Where(r => !r.IsLocal))
        {
            try
            {
                await SettleAsync(record, cancellationToken).ConfigureAwait(false);
            }
            catch (CloudException e)
            {
                Log.Warning("sticky.settle-failed", $"settling {record.Identity}'s {What} {record.Resource} ({record.Phase}) failed, retried in the background: {e.Reason}",
                    ("pod", record.Identity), (ResourceField, record.Resource), ("error", e.Message));
            }
        }
    }

    /// <summary>
    /// Brings a record that is not local (a hand-over or an expiry cut short by a failure or a crash) to a
    /// state that needs no one: resumed, rolled back or finished, as the kind's phases say.
    /// </summary>
    internal abstract Task SettleAsync(TRecord record, CancellationToken cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<AgentReply> AllocateAsync(AllocateRequest request, Func<CancellationToken, ValueTask<AgentReply>> fromPool,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(fromPool);
        var pod = request.Pod ?? throw new ArgumentException("a sticky pod has a name", nameof(request));
        var identity = EniTags.StickyValue(pod.Namespace, pod.Name);
        if (Refuse(pod, identity) is { } refused)
            return refused;
        var gate = Gates.Of(identity);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await AllocateLockedAsync(identity, request, fromPool, cancellationToken).ConfigureAwait(false);
        }
        catch (CloudException e)
        {
            return TryAgain($"{What} of {identity}: {e.Reason}");
        }
        catch (StickyHandoverException e)
        {
            return TryAgain(e.Message);
        }
        catch (AllocationConflictException e)
        {
            return new ErrorReply { Code = AgentErrorCode.InvalidConfig, Message = $"fathom-agent cannot record {identity}'s {What}: {e.Message}" };
        }
        catch (IOException e)
        {
            return StateWriteFailure.Reply(Log, $"giving {identity} its {What}", e);
        }
        finally
        {
            gate.Release();
            Wake();
        }
    }

    /// <summary>Why a sticky pod cannot be served at all (before its gate is taken), or null.</summary>
    private protected virtual ErrorReply? Refuse(PodIdentity pod, string identity) => null;

    /// <summary>A sticky pod's ADD, its gate held: what is kept for it (here, or handed over), or one from the pool that becomes its own.</summary>
    private protected abstract ValueTask<AgentReply> AllocateLockedAsync(string identity, AllocateRequest request,
        Func<CancellationToken, ValueTask<AgentReply>> fromPool, CancellationToken cancellationToken);

    /// <summary>
    /// Takes what is kept for the pod once it is usable here (<paramref name="take"/> non-null), waiting for
    /// the return of <paramref name="returning"/>'s device from its last pod first; bounded by the device wait:
    /// past it, code 11 saying <paramref name="kept"/> is not usable and why (<paramref name="whyNot"/>).
    /// </summary>
    private protected async Task<TAllocation> TakeWhenUsableAsync<TAllocation>(Func<string?> returning, Func<TAllocation?> take,
        string kept, Func<string> whyNot, CancellationToken cancellationToken)
        where TAllocation : class
    {
        var deadline = Time.GetUtcNow() + Options.DeviceWait;
        while (true)
        {
            if (returning() is { } device && Teardown.IsPending(device))
                await WaitBoundedAsync(Teardown.WaitForDeviceAsync(device, cancellationToken), deadline, cancellationToken).ConfigureAwait(false);
            if (take() is { } allocation)
            {
                Pool.Notify();
                return allocation;
            }
            if (Time.GetUtcNow() >= deadline)
                throw new StickyHandoverException($"{kept} but not usable after {Options.DeviceWait.TotalSeconds:0.#} s: {whyNot()}");
            Pool.PrepareDevices();
            await Task.Delay(TimeSpan.FromMilliseconds(20), Time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitBoundedAsync(Task task, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        var left = deadline - Time.GetUtcNow();
        if (left <= TimeSpan.Zero) return;
        await Task.WhenAny(task, Task.Delay(left, Time, cancellationToken)).ConfigureAwait(false);
    }

    private protected void Crash(string step) => CrashPoint?.Invoke(step);

    private static ErrorReply TryAgain(string message) => new() { Code = AgentErrorCode.TryAgainLater, Message = message };

    /// <summary>Wakes the background loop (a DEL done, a teardown finished).</summary>
    public void Wake() => _loop.Wake();

    /// <summary>Stops the loop; what is half done is on disk for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        Pool.Changed -= Wake;
        await _loop.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }
}

/// <summary>A sticky pod's ENI cannot be given now (not released in time, not usable yet): the ADD fails with code 11 and says why.</summary>
public sealed class StickyHandoverException(string message) : Exception(message);
