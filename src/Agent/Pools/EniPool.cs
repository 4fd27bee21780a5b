using System.Net;
using System.Net.NetworkInformation;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Cloud;

namespace Fathom.Agent.Pools;

/// <summary>One ENI attached to this instance, as the pool holds it.</summary>
public sealed class PoolEni
{
    internal PoolEni(Eni eni, bool primary)
    {
        EniId = eni.EniId;
        Mac = eni.Mac;
        PrimaryIp = eni.PrimaryIp;
        SubnetId = eni.SubnetId;
        SubnetCidr = eni.SubnetCidr;
        Gateway = eni.Gateway;
        DeviceIndex = eni.DeviceIndex ?? 0;
        AttachmentId = eni.AttachmentId;
        Primary = primary;
        foreach (var ip in eni.SecondaryIps) SecondaryIps.Add(ip.ToString());
    }

    /// <summary>eni-….</summary>
    public string EniId { get; }

    /// <summary>Its MAC, by which the node finds its device.</summary>
    public PhysicalAddress Mac { get; }

    /// <summary>Its primary IP (an underlay pod's address).</summary>
    public IPAddress PrimaryIp { get; }

    /// <summary>Its subnet.</summary>
    public string SubnetId { get; }

    /// <summary>Its subnet's CIDR (an underlay pod's prefix, the gateway).</summary>
    public IPNetwork SubnetCidr { get; }

    /// <summary>The attachment's device index (0 for the primary).</summary>
    public int DeviceIndex { get; }

    /// <summary>The attachment (to detach it).</summary>
    public string? AttachmentId { get; }

    /// <summary>The instance's primary ENI: hosts IPs, never handed out whole, never released.</summary>
    public bool Primary { get; }

    /// <summary>Its name in the node's namespace, once known.</summary>
    public string? HostDevice { get; internal set; }

    /// <summary>Its routing table for shared pods (100 + device index).</summary>
    public int RouteTable => EniPool.RouteTableBase + DeviceIndex;

    /// <summary>Whether its routing table is installed.</summary>
    public bool RoutingInstalled { get; internal set; }

    /// <summary>Where its release stands: one underway (or failed at its detach) keeps it from being handed out.</summary>
    internal EniRelease Release { get; set; }

    /// <summary>Being released, or its release failed at the detach: no longer handed out.</summary>
    internal bool Releasing => Release != EniRelease.None;

    /// <summary>The secondary IPs the cloud assigned to it (canonical text).</summary>
    internal SortedSet<string> SecondaryIps { get; } = new(StringComparer.Ordinal);

    /// <summary>The gateway of its subnet (as the provider gave it: a host NIC's may not be the first host).</summary>
    public IPAddress Gateway { get; }
}

/// <summary>Where the release of a <see cref="PoolEni"/> stands.</summary>
internal enum EniRelease
{
    /// <summary>Not being released.</summary>
    None,

    /// <summary>Being released (the refiller detaches and deletes it).</summary>
    Underway,

    /// <summary>Its detach failed: out of takes until a reload says whether the cloud detached it (then warm again if not).</summary>
    DetachFailed,
}

/// <summary>
/// The runtime pool of one node (DESIGN §4): the ENIs attached to this instance, what each does
/// (warm, held whole by an underlay pod, hosting secondary IPs), and which IPs are free, used or
/// cooling. What is in use is never kept twice: it is read from the <see cref="AllocationStore"/>
/// (the durable truth), the <see cref="IpCooldown"/> and the <see cref="TeardownQueue"/> (an ENI
/// whose return is pending is not warm yet). Takes reserve in the store under the pool's lock, so
/// one IP or ENI can never go to two pods, whatever the timing.
/// </summary>
public sealed class EniPool
{
    /// <summary>Route tables of ENIs are 100 + device index (101 for the first secondary ENI), clear of the kernel's 253–255.</summary>
    public const int RouteTableBase = 100;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, PoolEni> _enis = new(StringComparer.Ordinal);
    private readonly AllocationStore _store;
    private readonly IpCooldown _cooldown;
    private readonly TeardownQueue _teardown;
    private readonly INodeDevices _devices;
    private readonly AgentLog _log;
    // While a reload is under way (its description of the instance's ENIs on its way), the ENIs changed
    // here since, with the change's number: the description is older than such a change, so Load keeps
    // the pool's own view of them (an ENI the refiller attached meanwhile, IPs taken off to be unassigned).
    private readonly Dictionary<string, long> _changedDuringReload = new(StringComparer.Ordinal);
    private long _changes;
    private int _reloads;

    /// <summary>A pool over the agent's state; empty until <see cref="Load(IReadOnlyList{Eni})"/>.</summary>
    public EniPool(InstanceIdentity self, InstanceLimits limits, AllocationStore store, IpCooldown cooldown, TeardownQueue teardown,
        INodeDevices devices, AgentLog log)
    {
        Self = self;
        Limits = limits;
        _store = store;
        _cooldown = cooldown;
        _teardown = teardown;
        _devices = devices;
        _log = log;
    }

    /// <summary>This instance.</summary>
    public InstanceIdentity Self { get; }

    /// <summary>The agent's log (what serves from the pool writes its lines there).</summary>
    internal AgentLog Log => _log;

    /// <summary>The instance type's limits.</summary>
    public InstanceLimits Limits { get; }

    /// <summary>
    /// ENIs kept for a sticky pod (issue 11 §3: retained after its DEL, or in a hand-over): never
    /// warm, never released by the planner, taken only through <see cref="TryTakeSticky"/>. Null: none.
    /// Called under the pool's lock: it must not call back into the pool.
    /// </summary>
    public Func<string, bool>? Reserved { get; set; }

    /// <summary>
    /// Secondary IPs kept for a sticky shared pod (issue 11 §3: retained after its DEL, or moving here
    /// in a hand-over): never free, never unassigned, counted as used; taken only through
    /// <see cref="TryTakeStickyIp"/>. Null: none. Called under the pool's lock: it must not call back into the pool.
    /// </summary>
    public Func<string, bool>? ReservedIp { get; set; }

    /// <summary>
    /// What an underlay pod reaches through its small veth to the node rather than through its ENI
    /// (<see cref="UnderlayAllocation.NodeRoutes"/>): the node's host-gw and overlay cluster CIDRs, which
    /// only the nodes route (docs/modes.md, "Across modes"). Empty: none.
    /// </summary>
    public IReadOnlyList<string> UnderlayNodeRoutes { get; init; } = [];

    /// <summary>Raised after a take or a return, to wake the refiller.</summary>
    public event Action? Changed;

    /// <summary>ENIs being created and attached now (the refiller's count).</summary>
    internal int Attaching { get; set; }

    /// <summary>Secondary IPs being assigned now.</summary>
    internal int PendingIps { get; set; }

    /// <summary>The ENIs, ordered by device index.</summary>
    public IReadOnlyList<PoolEni> Enis()
    {
        lock (_gate) return [.. _enis.Values.OrderBy(e => e.DeviceIndex)];
    }

    /// <summary>
    /// Marks the start of a reload: take it before describing the instance's ENIs and hand it to
    /// <see cref="Load(IReadOnlyList{Eni}, PoolReload)"/>, so that an ENI added, removed or changed
    /// here while the description was on its way keeps the pool's newer view. Dispose it when the
    /// description fails.
    /// </summary>
    internal PoolReload BeginReload()
    {
        lock (_gate)
        {
            _reloads++;
            return new PoolReload(this, _changes);
        }
    }

    internal void EndReload(PoolReload reload)
    {
        lock (_gate) EndReloadLocked(reload);
    }

    private void EndReloadLocked(PoolReload reload)
    {
        if (reload.Ended) return;
        reload.Ended = true;
        if (--_reloads == 0) _changedDuringReload.Clear();
    }

    // Under the lock: every change to which ENIs the pool holds or to their IPs.
    private void Touch(string eniId)
    {
        _changes++;
        if (_reloads > 0) _changedDuringReload[eniId] = _changes;
    }

    /// <summary>
    /// Replaces what the pool knows with <paramref name="attached"/>, the instance's ENIs as the cloud
    /// describes them. Device names and route tables are (re)found.
    /// </summary>
    public void Load(IReadOnlyList<Eni> attached) => Load(attached, reload: null);

    /// <summary>
    /// Replaces what the pool knows with <paramref name="attached"/>, the instance's ENIs as the cloud
    /// describes them (start, reconcile). With <paramref name="reload"/> (begun before the description
    /// was asked for) an ENI changed here since keeps the pool's view: the description is older.
    /// Device names and route tables are (re)found.
    /// </summary>
    internal void Load(IReadOnlyList<Eni> attached, PoolReload? reload)
    {
        List<AllocationRecord> gone;
        lock (_gate)
        {
            bool ChangedSince(string eniId) =>
                reload is not null && _changedDuringReload.TryGetValue(eniId, out var at) && at > reload.Since;
            var before = new Dictionary<string, PoolEni>(_enis, StringComparer.Ordinal);
            _enis.Clear();
            foreach (var eni in attached)
            {
                if (eni.AttachmentState is not (EniAttachmentState.Attached or EniAttachmentState.Attaching) || ChangedSince(eni.EniId))
                    continue;
                var entry = new PoolEni(eni, eni.EniId == Self.PrimaryEniId);
                if (before.TryGetValue(eni.EniId, out var old))
                {
                    entry.HostDevice = old.HostDevice;
                    entry.RoutingInstalled = old.RoutingInstalled;
                    // A release whose detach failed and that the cloud still shows attached did not happen.
                    entry.Release = old.Release == EniRelease.Underway ? EniRelease.Underway : EniRelease.None;
                }
                _enis[eni.EniId] = entry;
            }
            foreach (var (eniId, current) in before.Where(e => ChangedSince(e.Key)))
                _enis[eniId] = current;
            if (reload is not null) EndReloadLocked(reload);
            gone = [.. _store.All().Where(r => !_enis.ContainsKey(r.Allocation.EniId))];
        }
        foreach (var eni in Enis())
            PrepareDevice(eni);
        // A pod's record whose ENI the cloud no longer attaches here: the record stays (its DEL or GC frees it), said once per reconcile.
        foreach (var record in gone)
            _log.Warning("pool.eni-gone", $"{record.Key} holds {record.Allocation.Ip} of {record.Allocation.EniId}, which is no longer attached to {Self.InstanceId}",
                ("eni", record.Allocation.EniId), ("containerId", record.ContainerId));
    }

    /// <summary>Adds an ENI the refiller attached.</summary>
    internal void Add(Eni eni)
    {
        var entry = new PoolEni(eni, primary: false);
        lock (_gate)
        {
            _enis[eni.EniId] = entry;
            Touch(eni.EniId);
        }
        PrepareDevice(entry);
    }

    /// <summary>Removes an ENI (released, or gone from the cloud).</summary>
    internal void Remove(string eniId)
    {
        lock (_gate)
        {
            _enis.Remove(eniId);
            Touch(eniId);
        }
    }

    /// <summary>Marks an ENI as being released, if it is still warm (holds nothing): then no take can pick it.</summary>
    internal bool TryStartRelease(string eniId)
    {
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out var eni) || eni.Primary || IsExclusive(eni) || eni.SecondaryIps.Count > 0)
                return false;
            eni.Release = EniRelease.Underway;
            return true;
        }
    }

    /// <summary>
    /// Records that the release of <paramref name="eniId"/> failed at its detach: it stays out of takes
    /// until the next reload, which makes it warm again if the cloud still shows it attached.
    /// </summary>
    internal void ReleaseFailed(string eniId)
    {
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out var eni)) return;
            eni.Release = EniRelease.DetachFailed;
            Touch(eniId);
        }
    }

    /// <summary>Adds secondary IPs the cloud assigned; the ENI now hosts IPs and gets its routing table.</summary>
    internal void AddIps(string eniId, IEnumerable<IPAddress> ips)
    {
        PoolEni? eni;
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out eni)) return;
            foreach (var ip in ips) eni.SecondaryIps.Add(ip.ToString());
            Touch(eniId);
        }
        PrepareDevice(eni);
    }

    /// <summary>Takes up to <paramref name="count"/> free IPs off <paramref name="eniId"/> to give them back: no take can pick them meanwhile.</summary>
    internal IReadOnlyList<IPAddress> TakeForUnassign(string eniId, int count)
    {
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out var eni)) return [];
            var exclusive = IsExclusive(eni);
            var tearingDown = _teardown.PendingPodIps();
            var picked = eni.SecondaryIps.Where(ip => exclusive || IsFree(ip, tearingDown)).Take(count).ToList();
            foreach (var ip in picked) eni.SecondaryIps.Remove(ip);
            Touch(eniId);
            return [.. picked.Select(IPAddress.Parse)];
        }
    }

    /// <summary>Device indexes in use (for the next attach).</summary>
    internal HashSet<int> DeviceIndexes()
    {
        lock (_gate) return [.. _enis.Values.Select(e => e.DeviceIndex)];
    }

    /// <summary>The pool as the planner sees it.</summary>
    public PoolSnapshot Snapshot()
    {
        lock (_gate)
        {
            var tearingDown = _teardown.PendingPodIps();
            var states = _enis.Values.Where(e => !e.Releasing).OrderBy(e => e.EniId, StringComparer.Ordinal).Select(e =>
            {
                var exclusive = IsExclusive(e);
                // A sticky pod's retained IP is as good as used: never free, never given back.
                var used = e.SecondaryIps.Count(ip => _store.IsIpHeld(ip) || ReservedIp?.Invoke(ip) == true);
                // An IP whose pod's rules are still being removed rests as a cooling one does.
                var cooling = e.SecondaryIps.Count(ip => !_store.IsIpHeld(ip) && ReservedIp?.Invoke(ip) != true
                    && (_cooldown.IsCooling(ip) || tearingDown.Contains(ip)));
                var role = exclusive ? EniRole.Exclusive : e.Primary || e.SecondaryIps.Count > 0 ? EniRole.Hosting : EniRole.Warm;
                return new EniState(e.EniId, e.Primary, role, e.SecondaryIps.Count, used, cooling);
            }).ToList();
            return new PoolSnapshot(Limits.MaxEnis, Limits.SecondaryIpsPerEni, states, Attaching, PendingIps);
        }
    }

    /// <summary>
    /// Takes a warm ENI whole for an underlay pod and records it (committed, in one write): null when
    /// none is warm. An ENI still carrying free IPs may go (the refiller then gives them back);
    /// one with an IP used or cooling may not.
    /// </summary>
    public UnderlayAllocation? TryTakeEni(AttachmentKey key, int mtu, PodIdentity? pod, string? netnsPath)
    {
        lock (_gate)
        {
            var tearingDown = _teardown.PendingPodIps();
            var eni = _enis.Values.Where(e => !e.Primary && !e.Releasing && e.HostDevice is not null && !IsExclusive(e)
                    && e.SecondaryIps.All(ip => IsFree(ip, tearingDown)))
                .OrderBy(e => e.SecondaryIps.Count).ThenBy(e => e.DeviceIndex).FirstOrDefault();
            if (eni is null) return null;
            return Grant(key, eni, mtu, pod, netnsPath);
        }
    }

    /// <summary>
    /// Takes the sticky ENI <paramref name="eniId"/> whole for its own pod and records it (as
    /// <see cref="TryTakeEni"/> records a warm one); null while it is not usable here: not attached,
    /// its device not found yet, held, or its return from the last pod still pending.
    /// </summary>
    public UnderlayAllocation? TryTakeSticky(AttachmentKey key, string eniId, int mtu, PodIdentity? pod, string? netnsPath)
    {
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out var eni) || eni.Primary || eni.Releasing || eni.HostDevice is null
                || _store.IsEniInUse(eniId) || _teardown.Pending().Any(j => j.Job.Action == TeardownAction.ReturnEni && j.Job.EniId == eniId))
                return null;
            return Grant(key, eni, mtu, pod, netnsPath);
        }
    }

    // The whole ENI for one pod, recorded before the plugin hears of it. Call under the gate.
    private UnderlayAllocation Grant(AttachmentKey key, PoolEni eni, int mtu, PodIdentity? pod, string? netnsPath)
    {
        // Its table's routes and its address leave the node with the device: installed again when it
        // hosts IPs after its pod (PrepareDevice), not taken for installed meanwhile.
        eni.RoutingInstalled = false;
        var allocation = new UnderlayAllocation
        {
            EniId = eni.EniId,
            Gateway = eni.Gateway.ToString(),
            Address = $"{eni.PrimaryIp}/{eni.SubnetCidr.PrefixLength}",
            Mac = FormatMac(eni.Mac),
            HostDevice = eni.HostDevice!,
            Mtu = mtu,
            NodeRoutes = UnderlayNodeRoutes.Count == 0 ? null : UnderlayNodeRoutes,
        };
        _store.Grant(key, allocation, pod, netnsPath);
        return allocation;
    }

    /// <summary>The ENI <paramref name="eniId"/> as the pool holds it, or null.</summary>
    internal PoolEni? Find(string eniId)
    {
        lock (_gate) return _enis.GetValueOrDefault(eniId);
    }

    /// <summary>Takes a free secondary IP (not used, not cooling, not being torn down) for a shared pod and records it; null when none is free.</summary>
    public SharedAllocation? TryTakeIp(AttachmentKey key, PodIdentity? pod, string? netnsPath, string hostVeth)
    {
        lock (_gate)
        {
            var tearingDown = _teardown.PendingPodIps();
            // Pack: the primary first, then the fullest hosts, so lightly used ENIs can empty again (as the planner packs).
            foreach (var eni in _enis.Values.Where(e => !e.Releasing && (e.Primary || e.SecondaryIps.Count > 0) && !IsExclusive(e)
                             && (e.Primary || e.RoutingInstalled))
                         .OrderByDescending(e => e.Primary).ThenByDescending(e => _store.SharedIpsOn(e.EniId))
                         .ThenBy(e => e.DeviceIndex))
            {
                var ip = eni.SecondaryIps.FirstOrDefault(a => IsFree(a, tearingDown));
                if (ip is null) continue;
                return GrantIp(key, eni, ip, pod, netnsPath, hostVeth);
            }
            return null;
        }
    }

    /// <summary>
    /// Takes the sticky IP <paramref name="ip"/> of <paramref name="eniId"/> for its own pod and records it
    /// (as <see cref="TryTakeIp"/> records a free one); its cooldown does not apply (the same pod comes back);
    /// null while it is not usable here: not listed on that ENI, held, its routing table not installed, or its
    /// last pod's rules still being removed.
    /// </summary>
    public SharedAllocation? TryTakeStickyIp(AttachmentKey key, string eniId, string ip, PodIdentity? pod, string? netnsPath, string hostVeth)
    {
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out var eni) || eni.Releasing || !eni.SecondaryIps.Contains(ip) || !(eni.Primary || eni.RoutingInstalled)
                || IsExclusive(eni) || _store.IsIpHeld(ip) || _teardown.PendingPodIps().Contains(ip))
                return null;
            return GrantIp(key, eni, ip, pod, netnsPath, hostVeth);
        }
    }

    // A secondary IP of eni for the pod, recorded committed in one durable write (under _gate).
    private SharedAllocation GrantIp(AttachmentKey key, PoolEni eni, string ip, PodIdentity? pod, string? netnsPath, string hostVeth)
    {
        var allocation = new SharedAllocation
        {
            EniId = eni.EniId,
            Gateway = eni.Gateway.ToString(),
            Address = ip + "/32",
            RouteTable = eni.RouteTable,
            HostVeth = hostVeth,
        };
        _store.Grant(key, allocation, pod, netnsPath);
        return allocation;
    }

    /// <summary>
    /// Picks the ENI a sticky IP moving here from another node goes to — one hosting IPs (the primary
    /// first) in <paramref name="subnetId"/> with room for one more, not held whole — and lists the IP on it
    /// at once, before the cloud call that moves it, so no take can claim that ENI whole meanwhile
    /// (the caller keeps the IP reserved). Null when no ENI of this node qualifies.
    /// </summary>
    internal PoolEni? TryHostMovedIp(string subnetId, string ip)
    {
        PoolEni? eni;
        lock (_gate)
        {
            eni = _enis.Values.Where(e => e.SubnetId == subnetId && !e.Releasing && (e.Primary || e.SecondaryIps.Count > 0) && !IsExclusive(e)
                    && e.SecondaryIps.Count < Limits.SecondaryIpsPerEni)
                .OrderByDescending(e => e.Primary).ThenBy(e => e.DeviceIndex).FirstOrDefault();
            if (eni is not null)
            {
                eni.SecondaryIps.Add(ip);
                Touch(eni.EniId);
            }
        }
        if (eni is not null) PrepareDevice(eni);
        return eni;
    }

    /// <summary>Drops <paramref name="ip"/> from what the pool lists on <paramref name="eniId"/> (it is not there, or no longer this node's), without a cloud call.</summary>
    internal void RemoveIp(string eniId, string ip)
    {
        lock (_gate)
        {
            if (!_enis.TryGetValue(eniId, out var eni)) return;
            eni.SecondaryIps.Remove(ip);
            Touch(eniId);
        }
    }

    /// <summary>Tells the refiller something changed (a take, a return).</summary>
    public void Notify() => Changed?.Invoke();

    /// <summary>Whether the ENI is held whole: by an allocation, or by a return still pending in the teardown queue.</summary>
    private bool IsExclusive(PoolEni eni) =>
        !eni.Primary && (_store.IsEniHeldWhole(eni.EniId) || Reserved?.Invoke(eni.EniId) == true
            || _teardown.Pending().Any(j => j.Job.Action == TeardownAction.ReturnEni && j.Job.EniId == eni.EniId));

    /// <summary>
    /// Not held, not cooling, and not still being torn down: a teardown job removes its pod's rules by
    /// IP, so a new pod with that IP before the job ran would lose its own rules to it.
    /// </summary>
    private bool IsFree(string ip, HashSet<string> tearingDown) =>
        !_store.IsIpHeld(ip) && !_cooldown.IsCooling(ip) && !tearingDown.Contains(ip) && ReservedIp?.Invoke(ip) != true;

    /// <summary>
    /// Finds the ENI's device and, when it hosts IPs and no pod holds it whole (its device is in the pod then), installs
    /// its table. A device not there yet is looked for again later.
    /// </summary>
    private void PrepareDevice(PoolEni eni)
    {
        try
        {
            eni.HostDevice ??= _devices.NameOf(eni.Mac);
            if (eni.HostDevice is not null && !eni.RoutingInstalled && (eni.Primary || eni.SecondaryIps.Count > 0) && !IsExclusive(eni))
            {
                _devices.InstallRouting(eni.HostDevice, eni.RouteTable, eni.Gateway, eni.PrimaryIp);
                eni.RoutingInstalled = true;
                _log.Info("pool.routing-installed", $"routing table {eni.RouteTable} of {eni.EniId} installed on {eni.HostDevice}",
                    ("eni", eni.EniId), ("device", eni.HostDevice), ("table", eni.RouteTable));
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Warning("pool.device-failed", $"preparing {eni.EniId} on the node failed, retried later: {e.Message}",
                ("eni", eni.EniId), ("error", e.Message));
        }
    }

    /// <summary>Retries device lookups and routing tables that were not possible before (a device udev had not named yet).</summary>
    internal void PrepareDevices()
    {
        foreach (var eni in Enis())
            if (eni.HostDevice is null || (!eni.RoutingInstalled && (eni.Primary || eni.SecondaryIps.Count > 0)))
                PrepareDevice(eni);
    }

    private static string FormatMac(PhysicalAddress mac) =>
        string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}

/// <summary>
/// A reload of the pool under way (<see cref="EniPool.BeginReload"/>): what
/// <see cref="EniPool.Load(IReadOnlyList{Eni}, PoolReload)"/> needs to tell the changes made here
/// after the description was asked for. Disposing it ends it.
/// </summary>
internal sealed class PoolReload : IDisposable
{
    private readonly EniPool _pool;

    internal PoolReload(EniPool pool, long since)
    {
        _pool = pool;
        Since = since;
    }

    /// <summary>The pool's change count when the reload began.</summary>
    internal long Since { get; }

    /// <summary>Ended (loaded or disposed); under the pool's lock.</summary>
    internal bool Ended { get; set; }

    /// <summary>Ends the reload (nothing when <see cref="EniPool.Load(IReadOnlyList{Eni}, PoolReload)"/> ended it).</summary>
    public void Dispose() => _pool.EndReload(this);
}
