using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;

namespace Fathom.Agent.Hosting;

/// <summary>
/// The agent's answers to the plugin, from its durable state. Release, Check, Gc and Status are
/// complete. Allocate answers an ADD the store already recorded (a runtime retrying an ADD gets the
/// same ENI or IP, also across a restart) and otherwise fails with code 11 "no cloud provider
/// configured": the warm pools and the cloud calls that fill them are built on top of this
/// (issue 9) and plug in through <see cref="AllocateNew"/>.
/// </summary>
public sealed class AllocationService : IAgentService
{
    private readonly AllocationStore _store;
    private readonly IpCooldown _cooldown;
    private readonly TeardownQueue _teardown;
    private readonly AgentLog _log;
    private readonly TimeProvider _time;
    private readonly AttachmentRelease _releases;

    /// <summary>A service over the agent's state.</summary>
    public AllocationService(AllocationStore store, IpCooldown cooldown, TeardownQueue teardown, AgentLog log, TimeProvider? time = null)
    {
        _store = store;
        _cooldown = cooldown;
        _teardown = teardown;
        _log = log;
        _time = time ?? TimeProvider.System;
        _releases = new AttachmentRelease(store, cooldown, teardown, log);
    }

    /// <summary>
    /// What gives a new attachment an ENI or IP (the pools, later). Null until then, and Allocate
    /// answers code 11 "no cloud provider configured".
    /// </summary>
    public Func<AllocateRequest, CancellationToken, ValueTask<AgentReply>>? AllocateNew { get; init; }

    /// <summary>The pools and ENIs <see cref="StatusAsync"/> reports (from the pools), or null when there are none.</summary>
    public Func<(IReadOnlyList<PoolStatus> Pools, IReadOnlyList<EniStatus> Enis)>? PoolView { get; init; }

    /// <summary>Called after a release (DEL, GC) freed something: the pools' refiller looks again.</summary>
    public Action? Released { get; init; }

    /// <summary>The version <see cref="StatusAsync"/> reports.</summary>
    public string AgentVersion { get; init; } = typeof(AllocationService).Assembly.GetName().Version?.ToString() ?? "unknown";

    /// <inheritdoc />
    public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        if (Invalid(key) is { } invalid)
            return ValueTask.FromResult<AgentReply>(invalid);
        if (_store.TryGet(key, out var existing))
            return ValueTask.FromResult<AgentReply>(new AllocatedReply { Allocation = existing.Allocation });
        if (AllocateNew is { } allocate)
            return Logged(request, allocate(request, cancellationToken));
        return ValueTask.FromResult<AgentReply>(new ErrorReply
        {
            Code = AgentErrorCode.TryAgainLater,
            Message = "no cloud provider configured: this fathom-agent keeps allocation state but has no ENI/IP pools yet, so it cannot allocate",
        });
    }

    /// <inheritdoc />
    public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        if (Invalid(key) is { } invalid)
            return ValueTask.FromResult<AgentReply>(invalid);
        try
        {
            Release(key);
        }
        catch (IOException e)
        {
            // Nothing was released that is not recorded; the runtime retries DEL.
            return ValueTask.FromResult<AgentReply>(StateWriteFailure.Reply(_log, $"releasing {key}", e));
        }
        return ValueTask.FromResult<AgentReply>(new DoneReply());
    }

    // One line per new allocation, with the pod it is for (issue 11 §2: an operator greps a pod's name).
    private async ValueTask<AgentReply> Logged(AllocateRequest request, ValueTask<AgentReply> allocating)
    {
        var reply = await allocating;
        if (reply is AllocatedReply { Allocation: { } a })
            _log.Info("allocation.granted", $"{a.Mode.ToString().ToLowerInvariant()} {a.Address} on {a.EniId} for {PodName(request.Pod)} ({request.ContainerId[..Math.Min(12, request.ContainerId.Length)]})",
                ("pod", PodName(request.Pod)), ("podUid", request.Pod?.Uid), ("container", request.ContainerId), ("eni", a.EniId), ("ip", a.Ip));
        return reply;
    }

    private static string PodName(PodIdentity? pod) => pod is null ? "-" : $"{pod.Namespace}/{pod.Name}";

    /// <summary>What CNI itself would refuse (spec §Parameters): an empty name, an interface name the kernel cannot have.</summary>
    private static ErrorReply? Invalid(AttachmentKey key)
    {
        if (string.IsNullOrEmpty(key.Network))
            return new ErrorReply { Code = AgentErrorCode.InvalidConfig, Message = "the network name is empty" };
        if (string.IsNullOrEmpty(key.ContainerId))
            return new ErrorReply { Code = AgentErrorCode.InvalidEnvironment, Message = "CNI_CONTAINERID is empty" };
        if (string.IsNullOrEmpty(key.IfName) || key.IfName.Length > 15 || key.IfName is "." or ".."
            || key.IfName.AsSpan().IndexOfAny("/: \t\n") >= 0)
            return new ErrorReply { Code = AgentErrorCode.InvalidEnvironment, Message = $"CNI_IFNAME '{key.IfName}' is not a valid interface name" };
        return null;
    }

    /// <inheritdoc />
    public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = new AttachmentKey(request.Network, request.ContainerId, request.IfName);
        if (Invalid(key) is { } invalid)
            return ValueTask.FromResult<AgentReply>(invalid);
        return ValueTask.FromResult<AgentReply>(_store.TryGet(key, out _)
            ? new DoneReply()
            : new ErrorReply { Code = AgentErrorCode.UnknownContainer, Message = $"fathom-agent holds no allocation for {key}" });
    }

    /// <inheritdoc />
    public ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (string.IsNullOrEmpty(request.Network))
            return ValueTask.FromResult<AgentReply>(new ErrorReply { Code = AgentErrorCode.InvalidConfig, Message = "gc: the network name is empty" });
        var valid = request.ValidAttachments.Select(a => (a.ContainerId, a.IfName)).ToHashSet();
        var released = new List<AttachmentRef>();
        foreach (var record in _store.All().Where(r => r.Network == request.Network).OrderBy(r => r.ContainerId, StringComparer.Ordinal))
        {
            if (valid.Contains((record.ContainerId, record.IfName)))
                continue;
            try
            {
                if (Release(record.Key))
                    released.Add(new AttachmentRef { ContainerId = record.ContainerId, IfName = record.IfName });
            }
            catch (IOException e)
            {
                return ValueTask.FromResult<AgentReply>(StateWriteFailure.Reply(_log, $"garbage-collecting {record.Key}", e));
            }
        }
        if (released.Count > 0)
            _log.Info("gc.released", $"GC of {request.Network} released {released.Count} allocations the runtime no longer lists",
                ("network", request.Network), ("count", released.Count));
        return ValueTask.FromResult<AgentReply>(new DoneReply { Released = released });
    }

    /// <inheritdoc />
    public ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken)
    {
        var records = _store.All();
        var cooling = _cooldown.Cooling();
        var view = PoolView?.Invoke();
        return ValueTask.FromResult<AgentReply>(new StatusReply
        {
            Status = new AgentStatus
            {
                AgentVersion = AgentVersion,
                Time = _time.GetUtcNow(),
                Pools = view?.Pools ??
                [
                    new PoolStatus { Mode = AllocationMode.Underlay, InUse = records.Count(r => r.Allocation is UnderlayAllocation) },
                    new PoolStatus { Mode = AllocationMode.Shared, InUse = records.Count(r => r.Allocation is SharedAllocation), Cooling = cooling.Count },
                ],
                Enis = view?.Enis ?? [],
                Allocations =
                [
                    .. records.OrderBy(r => r.Network, StringComparer.Ordinal).ThenBy(r => r.ContainerId, StringComparer.Ordinal)
                        .Select(r => new AllocationStatus
                        {
                            Network = r.Network,
                            ContainerId = r.ContainerId,
                            IfName = r.IfName,
                            Pod = r.Pod,
                            Allocation = r.Allocation,
                            State = r.State == AllocationState.Committed ? "committed" : "pending",
                            Since = r.CreatedAt,
                        }),
                ],
                PendingTeardowns = _teardown.Pending().Count,
                CoolingIps = cooling.Count,
            },
        });
    }

    /// <summary>Releases one attachment in the write-ahead order (<see cref="AttachmentRelease"/>); the pools' refiller looks again.</summary>
    private bool Release(AttachmentKey key)
    {
        var released = _releases.Release(key);
        if (released) Released?.Invoke();
        return released;
    }
}
