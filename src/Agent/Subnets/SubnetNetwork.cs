using System.Net;
using System.Threading.Channels;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Datapath;
using Fathom.Datastore;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// One subnet mode on the node (host-gw or overlay; issue 10): holds the node's lease in the mode's
/// datastore and renews it (<see cref="SubnetLeaseKeeper"/>), watches the other nodes' leases, and
/// keeps the kernel matching them (<see cref="SubnetProgrammer"/>) — on every change and again every
/// reconcile period, so a route deleted by hand comes back. Gives pods addresses of the node's subnet
/// (<see cref="PodSubnetIpam"/>) and deletes their veths in the background after DEL.
/// </summary>
public sealed class SubnetNetwork : IAsyncDisposable
{
    private static readonly TimeSpan MaxConnectBackoff = TimeSpan.FromSeconds(5);

    /// <summary>How long an ADD right after the agent started waits for the first lease before it is 11.</summary>
    public static readonly TimeSpan FirstLeaseWait = TimeSpan.FromSeconds(10);

    private readonly TaskCompletionSource _leased = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly SubnetModeSettings _settings;
    private readonly PodSubnetIpam _ipam;
    private readonly AgentLog _log;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<PodSubnetEntry> _teardown = Channel.CreateUnbounded<PodSubnetEntry>();
    private readonly Lock _peersLock = new();
    private readonly Dictionary<IPNetwork, SubnetLease> _peers = [];
    private readonly SubnetProgrammer _programmer;
    private ISubnetLeaseStore? _store;
    private SubnetLeaseKeeper? _keeper;
    private Exception? _connectFailure;
    private SubnetConflict? _reportedConflict;
    private long _conflicts;
    private Task _running = Task.CompletedTask;
    private Task _tearingDown = Task.CompletedTask;
    private PodVethWatcher? _podVeths;
    private int _disposed;
    private volatile bool _peersListed;

    private SubnetNetwork(SubnetModeSettings settings, PodSubnetIpam ipam, AgentLog log, TimeProvider time)
    {
        _settings = settings;
        _ipam = ipam;
        _log = log;
        _time = time;
        _programmer = new SubnetProgrammer(settings);
    }

    /// <summary>The mode this network serves.</summary>
    public AllocationMode Mode => _settings.Mode;

    /// <summary>The node's lease, or null before it has one.</summary>
    public SubnetLease? Lease => _keeper?.Current;

    /// <summary>The other nodes' leases the kernel is programmed for.</summary>
    public IReadOnlyList<SubnetLease> Peers()
    {
        lock (_peersLock) return [.. _peers.Values];
    }

    /// <summary>What the programmer did (routes, FDB entries, repairs).</summary>
    public SubnetProgrammer Programmer => _programmer;

    /// <summary>Starts the mode: the datastore is reached in the background (retried until it answers), so the agent serves its other modes meanwhile.</summary>
    public static SubnetNetwork Start(SubnetModeSettings settings, PodSubnetIpam ipam, AgentLog log, TimeProvider? time = null)
    {
        var network = new SubnetNetwork(settings, ipam, log, time ?? TimeProvider.System);
        foreach (var entry in ipam.All().Where(e => e.Releasing))
            network._teardown.Writer.TryWrite(entry);
        network.WatchPodVeths();
        network._running = Task.Run(() => network.RunAsync(network._stop.Token));
        network._tearingDown = Task.Run(() => network.TearDownAsync(network._stop.Token));
        return network;
    }

    // redirect: bpf — a new pod's veth gets from_pod as it appears (PodVethWatcher), subscribed before
    // the first ADD can be served. Without a subscription the reconcile alone attaches, as it still does for what this misses.
    private void WatchPodVeths()
    {
        if (!_settings.BpfRedirect || _settings.WatchNode is not { } watch) return;
        try
        {
            _podVeths = PodVethWatcher.Start(watch(), _ipam.HoldsVeth, _programmer.AttachPod, () => Reconcile(null),
                message => _log.Warning("subnet.redirect-watch-failed", $"{AllocationModeName}: {message}", ("mode", AllocationModeName)));
        }
        catch (NetlinkException e)
        {
            _log.Warning("subnet.redirect-watch-failed", $"{AllocationModeName}: cannot subscribe to the node's link events, so new pods get the tc BPF pod path at the next reconcile: {e.Message}",
                ("mode", AllocationModeName));
        }
    }

    /// <summary>Pod veths given <c>from_pod</c> as they appeared (<c>redirect: bpf</c>), not by a reconcile.</summary>
    public long PodVethsRedirectedOnSight => _podVeths?.AttachedTotal ?? 0;

    /// <summary>Why a new pod cannot get an address now (code 11's message), or null when it can.</summary>
    public string? Unavailable() => LeaseUnavailable() ?? Conflict()?.Describe(AllocationModeName);

    /// <summary>
    /// The node's pods stranded in a subnet it no longer leases (<see cref="SubnetConflict"/>), or null:
    /// while there are any, the mode takes no new pod and the agent is not ready.
    /// </summary>
    public SubnetConflict? Conflict() => Lease is { } own ? SubnetConflict.Find(own, _ipam.All(), Peers()) : null;

    /// <summary>How many times a conflict was found where there was none (a counter, for the metrics).</summary>
    public long Conflicts => Interlocked.Read(ref _conflicts);

    /// <summary>Why the node has no usable lease now (none yet, or its renewals fail), or null when it has one.</summary>
    public string? LeaseUnavailable()
    {
        var mode = AllocationModeName;
        if (_keeper is not { } keeper)
            return _connectFailure is { } e
                ? $"no {mode} subnet lease yet: {_settings.Datastore.Describe()} did not answer ({e.Message})"
                : $"no {mode} subnet lease yet: still asking {_settings.Datastore.Describe()}";
        if (keeper.Current is null)
            return $"no {mode} subnet lease yet from {_settings.Datastore.Describe()}" + (keeper.LastFailure is { } f ? $": {f.Message}" : "");
        if (keeper.LastFailure is { } failure)
            return $"the node's {mode} subnet lease {keeper.Current.Subnet} cannot be renewed in {_settings.Datastore.Describe()}, so no new pod gets an address of it: {failure.Message}";
        return null;
    }

    private string AllocationModeName => Allocation.ModeName(Mode);

    /// <summary>
    /// ADD: as <see cref="Allocate"/>, after waiting (at most <see cref="FirstLeaseWait"/>) for the
    /// node's first lease when the agent has just started and has none yet.
    /// </summary>
    public async ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken)
    {
        if (Lease is null)
            await Task.WhenAny(_leased.Task, Task.Delay(FirstLeaseWait, _time, cancellationToken)).ConfigureAwait(false);
        return Allocate(request);
    }

    /// <summary>ADD: the attachment's address (the same one for a retried ADD), recorded before it is returned.</summary>
    public AgentReply Allocate(AllocateRequest request)
    {
        if (_ipam.Find(request.Network, request.ContainerId, request.IfName) is { Releasing: false } held)
            return Reply(held, Lease?.Subnet);
        if (Unavailable() is { } why)
            return new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = why };
        var lease = Lease!;
        if (_ipam.Find(request.Network, request.ContainerId, request.IfName) is { Releasing: true } stale)
            DeleteVeth(stale);
        PodSubnetEntry? entry;
        try
        {
            entry = _ipam.Allocate(request.Network, request.ContainerId, request.IfName, lease.Subnet,
                NodeVeth.HostNameFor(request.ContainerId, request.IfName));
        }
        catch (IOException e)
        {
            // Nothing was given that is not recorded; the runtime retries the ADD.
            return StateFailure($"giving {request.ContainerId}/{request.IfName} a {AllocationModeName} address", e);
        }
        if (entry is null)
            return new ErrorReply
            {
                Code = AgentErrorCode.TryAgainLater,
                Message = $"the node's {AllocationModeName} subnet {lease.Subnet} is full: every address is held by a pod or its veth is still being deleted",
            };
        _log.Info("subnet.allocated", $"{AllocationModeName} pod {request.ContainerId[..Math.Min(12, request.ContainerId.Length)]}/{request.IfName} gets {entry.Ip}",
            ("mode", AllocationModeName), ("ip", entry.Ip), ("hostVeth", entry.HostVeth));
        return Reply(entry, lease.Subnet);
    }

    private AllocatedReply Reply(PodSubnetEntry entry, IPNetwork? subnet)
    {
        var common = (Address: entry.Ip + "/32", Subnet: subnet?.ToString() ?? entry.Ip + "/32");
        return new AllocatedReply
        {
            Allocation = Mode == AllocationMode.Overlay
                ? new OverlayAllocation { EniId = "", Gateway = NodeVeth.Gateway.ToString(), Address = common.Address, Subnet = common.Subnet, HostVeth = entry.HostVeth, Mtu = _settings.PodMtu }
                : new HostGwAllocation { EniId = "", Gateway = NodeVeth.Gateway.ToString(), Address = common.Address, Subnet = common.Subnet, HostVeth = entry.HostVeth, Mtu = _settings.PodMtu },
        };
    }

    /// <summary>DEL: releases the attachment's address (its veth is deleted in the background); false when it held none.</summary>
    /// <exception cref="IOException">The release could not be recorded: nothing was released.</exception>
    public bool Release(string network, string containerId, string ifName)
    {
        if (_ipam.MarkReleasing(network, containerId, ifName) is not { } entry) return false;
        _teardown.Writer.TryWrite(entry);
        return true;
    }

    /// <summary>What the plugin hears when the pod record cannot be written (a full or failing disk): code 5, I/O failure.</summary>
    internal ErrorReply StateFailure(string doing, IOException e) => StateWriteFailure.Reply(_log, doing, e, AllocationModeName);

    /// <summary>CHECK: whether the attachment holds an address.</summary>
    public bool Holds(string network, string containerId, string ifName) =>
        _ipam.Find(network, containerId, ifName) is { Releasing: false };

    /// <summary>GC: releases every attachment of <paramref name="network"/> not in <paramref name="valid"/>; returns them.</summary>
    public IReadOnlyList<AttachmentRef> Collect(string network, IReadOnlyList<AttachmentRef> valid)
    {
        var keep = valid.Select(v => (v.ContainerId, v.IfName)).ToHashSet();
        var released = new List<AttachmentRef>();
        foreach (var entry in _ipam.All().Where(e => e.Network == network && !e.Releasing && !keep.Contains((e.ContainerId, e.IfName))))
            if (Release(entry.Network, entry.ContainerId, entry.IfName))
                released.Add(new AttachmentRef { ContainerId = entry.ContainerId, IfName = entry.IfName });
        return released;
    }

    /// <summary>The pods holding an address.</summary>
    public int Pods => _ipam.All().Count(e => !e.Releasing);

    /// <summary>The mode's rows of <c>fathomctl status</c>.</summary>
    public SubnetStatus Status() => new()
    {
        Mode = Mode,
        Subnet = Lease?.Subnet.ToString(),
        LeaseExpires = Lease?.Expires,
        Peers = Peers().Count,
        Unavailable = Unavailable(),
        Pods = [.. _ipam.All().OrderBy(e => e.Ip, StringComparer.Ordinal).Select(e => new SubnetPodStatus
        {
            Network = e.Network, ContainerId = e.ContainerId, IfName = e.IfName, Ip = e.Ip, HostVeth = e.HostVeth, Releasing = e.Releasing,
        })],
    };

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            var keeper = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            var renewing = keeper.RunAsync(cancellationToken);
            // The kernel is reconciled against the whole list of peers, never an empty start: an agent
            // restarted with its routes, VXLAN entries and pods in place leaves them be.
            await ListPeersAsync(_store!, cancellationToken).ConfigureAwait(false);
            Reconcile("lease acquired");
            var watching = WatchAsync(_store!, cancellationToken);
            var periodic = ReconcileEveryPeriodAsync(cancellationToken);
            await Task.WhenAll(renewing, watching, periodic).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // A bug or a broken install (an assembly missing): said loudly, and by every ADD (11).
            _connectFailure = e;
            _log.Error("subnet.failed", $"{AllocationModeName}: the subnet mode stopped: {e}", ("mode", AllocationModeName));
        }
    }

    // Opens the store and takes the lease, retrying (200 ms doubling to 5 s) until both answer.
    private async Task<SubnetLeaseKeeper> ConnectAsync(CancellationToken cancellationToken)
    {
        var pause = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                _store ??= await _settings.Datastore.ToOptions().OpenAsync(_time, cancellationToken: cancellationToken).ConfigureAwait(false);
                var keeper = new SubnetLeaseKeeper(_store, _settings.Attributes, _time)
                {
                    SubnetChanged = (before, after) => _log.Warning("subnet.changed",
                        $"{AllocationModeName} subnet changed from {before.Subnet} to {after.Subnet}: the old lease expired and another node took it; pods of the old subnet are cut off until recreated, and no new pod is taken until they are deleted",
                        ("mode", AllocationModeName), ("before", before.Subnet.ToString()), ("after", after.Subnet.ToString())),
                    LeaseExpired = lease => _log.Error("subnet.expired",
                        $"{AllocationModeName} lease on {lease.Subnet} expired with no renewal through: peers are forgetting this node", ("mode", AllocationModeName)),
                };
                var lease = await keeper.AcquireAsync(cancellationToken).ConfigureAwait(false);
                _keeper = keeper;
                _connectFailure = null;
                _leased.TrySetResult();
                _log.Info("subnet.leased", $"{AllocationModeName}: node {_settings.Attributes.NodeName} holds {lease.Subnet} in {_settings.Datastore.Describe()}",
                    ("mode", AllocationModeName), ("subnet", lease.Subnet.ToString()));
                return keeper;
            }
            catch (Exception e) when (e is DatastoreUnavailableException or IOException or HttpRequestException or SubnetPoolExhaustedException
                or DatastoreConfigurationException or TimeoutException or UnauthorizedAccessException)
            {
                _connectFailure = e;
                _log.Warning("subnet.connect-failed", $"{AllocationModeName}: {_settings.Datastore.Describe()}: {e.Message}; retrying in {pause.TotalSeconds:0.#} s",
                    ("mode", AllocationModeName));
                await Task.Delay(pause, _time, cancellationToken).ConfigureAwait(false);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxConnectBackoff.Ticks));
            }
        }
    }

    // The live leases once, retrying (200 ms doubling to 5 s) until the store answers.
    private async Task ListPeersAsync(ISubnetLeaseStore store, CancellationToken cancellationToken)
    {
        var pause = TimeSpan.FromMilliseconds(200);
        while (true)
        {
            try
            {
                foreach (var lease in await store.ListAsync(cancellationToken).ConfigureAwait(false))
                    Apply(new SubnetLeaseEvent(SubnetLeaseEventKind.Added, lease));
                _peersListed = true;
                return;
            }
            catch (Exception e) when (e is DatastoreUnavailableException or IOException or HttpRequestException or TimeoutException)
            {
                _log.Warning("subnet.list-failed", $"{AllocationModeName}: listing the peers in {_settings.Datastore.Describe()} failed, the kernel is left as it is; retrying in {pause.TotalSeconds:0.#} s: {e.Message}",
                    ("mode", AllocationModeName));
                await Task.Delay(pause, _time, cancellationToken).ConfigureAwait(false);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, MaxConnectBackoff.Ticks));
            }
        }
    }

    private async Task WatchAsync(ISubnetLeaseStore store, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var change in store.WatchAsync(cancellationToken).ConfigureAwait(false))
                {
                    if (Apply(change)) Reconcile($"{change.Kind} {change.Lease.Subnet} of {change.Lease.Node.NodeName}");
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is DatastoreUnavailableException or IOException or HttpRequestException or ObjectDisposedException)
            {
                _log.Warning("subnet.watch-failed", $"{AllocationModeName}: watching {_settings.Datastore.Describe()} failed, again in 1 s: {e.Message}");
                await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    // Whether the change alters what the kernel must hold. The node's own lease is not a peer.
    private bool Apply(SubnetLeaseEvent change)
    {
        var lease = change.Lease;
        if (lease.Node.NodeName == _settings.Attributes.NodeName) return false;
        lock (_peersLock)
        {
            if (change.Kind == SubnetLeaseEventKind.Added)
            {
                if (_peers.TryGetValue(lease.Subnet, out var known) && known.SameRouting(lease)) return false;
                _peers[lease.Subnet] = lease;
                return true;
            }
            return _peers.Remove(lease.Subnet);
        }
    }

    private async Task ReconcileEveryPeriodAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(_settings.ReconcileInterval, _time, cancellationToken).ConfigureAwait(false);
            Reconcile(null);
        }
    }

    /// <summary>Makes the kernel match the peers now (also what the period does), and reports a subnet conflict as it comes and goes.</summary>
    public void Reconcile(string? why)
    {
        // Not before the lease, nor before the peers were listed once (an empty list would take every peer's entries out).
        if (Lease is not { } own || !_peersListed) return;
        ReportConflict();
        try
        {
            var repaired = _programmer.Reconcile(own, Peers());
            if (_programmer.TakeRedirectRefusal() is { } refusal)
                _log.Warning("subnet.redirect-refused", $"{AllocationModeName}: the tc BPF pod path cannot run on this kernel, so pods are routed by the kernel: {refusal}", ("mode", AllocationModeName));
            if (_programmer.TakeMasqueradeRefusal() is { } masquerade)
                _log.Warning("subnet.masquerade-refused", $"{AllocationModeName}: no outgoing NAT, so pods reach only the cluster's pod subnets and their node: {masquerade}", ("mode", AllocationModeName));
            if (why is not null)
                _log.Info("subnet.reconciled", $"{AllocationModeName}: {why}: {_programmer.Routes} routes to {Peers().Count} peers", ("mode", AllocationModeName));
            else if (repaired > 0)
                _log.Warning("subnet.repaired", $"{AllocationModeName}: {repaired} kernel entries were missing or wrong and are back", ("mode", AllocationModeName));
        }
        catch (Exception e) when (e is NetlinkException or Fathom.Cni.CniException or InvalidOperationException or ArgumentException)
        {
            _programmer.Failed();
            _log.Error("subnet.reconcile-failed", $"{AllocationModeName}: programming the kernel failed, again next period: {e.Message}", ("mode", AllocationModeName));
        }
    }

    // Once when a conflict appears or changes, once when it is over: the periodic reconcile calls this.
    private void ReportConflict()
    {
        var conflict = Conflict();
        var before = Interlocked.Exchange(ref _reportedConflict, conflict);
        if (conflict is not null && (before is null || !before.Lost.SequenceEqual(conflict.Lost) || before.Stranded.Count != conflict.Stranded.Count))
        {
            if (before is null) Interlocked.Increment(ref _conflicts);
            _log.Error("subnet.conflict", $"{AllocationModeName}: {conflict.Describe(AllocationModeName)}",
                ("mode", AllocationModeName), ("held", conflict.Held.ToString()), ("lost", string.Join(",", conflict.Lost)),
                ("stranded", conflict.Stranded.Count), ("takenBy", string.Join(",", conflict.TakenBy)));
        }
        else if (conflict is null && before is not null)
        {
            _log.Info("subnet.conflict-over", $"{AllocationModeName}: the pods stranded in {string.Join(", ", before.Lost)} are gone; new pods get addresses of {before.Held} again",
                ("mode", AllocationModeName));
        }
    }

    private async Task TearDownAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var entry in _teardown.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_ipam.Find(entry.Network, entry.ContainerId, entry.IfName) is not { Releasing: true } still) continue;
                try
                {
                    DeleteVeth(still);
                }
                catch (Exception e) when (e is NetlinkException or Fathom.Cni.CniException or IOException)
                {
                    _log.Warning("subnet.teardown-failed", $"deleting veth {still.HostVeth} failed, again in 5 s: {e.Message}");
                    _ = Task.Delay(TimeSpan.FromSeconds(5), _time, cancellationToken)
                        .ContinueWith(_ => _teardown.Writer.TryWrite(still), TaskScheduler.Default);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    // ≈ 20 ms of kernel time (the veth's synchronize_net): off DEL's path, the address freed after.
    private void DeleteVeth(PodSubnetEntry entry)
    {
        using (var host = _settings.OpenNode())
            NodeVeth.TryDelete(host, entry.HostVeth);
        _ipam.Forget(entry);
    }

    /// <summary>Stops renewing and watching (the lease is kept: a restarted agent renews it; peers forget it after the TTL).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _teardown.Writer.TryComplete();
        _podVeths?.Dispose();
        try
        {
            await Task.WhenAll(_running, _tearingDown).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        if (_store is not null) await _store.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }

    /// <summary>Gives the lease up now (a node leaving for good): peers drop its routes at once.</summary>
    public async Task LeaveAsync(CancellationToken cancellationToken = default)
    {
        if (_store is not null) await _store.ReleaseAsync(_settings.Attributes.NodeName, cancellationToken).ConfigureAwait(false);
    }
}
