using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using Fathom.Agent.Protocol;

namespace Fathom.Agent.State;

/// <summary>
/// The durable map attachment → allocation: one file per attachment in <c>allocations/</c>, written
/// atomically (<see cref="StateDirectory"/>). The write-ahead rule: an allocation is recorded
/// (<see cref="Reserve"/>, <see cref="AllocationState.Pending"/>) before the agent acts on it and
/// before the plugin hears of it, and committed after — or committed at once (<see cref="Grant"/>, one
/// write) when nothing acts in between; a release removes the record only after
/// whatever must outlive it (IP cooldown, teardown job) is recorded. So an agent killed at any
/// instant restarts holding every resource any pod may be using — never one IP for two pods — and
/// what it holds but no pod uses is found by reconciling pending records (docs/agent.md).
/// The store itself refuses to record a resource twice: an IP, or an ENI given whole to a pod, has
/// one holder.
/// </summary>
public sealed class AllocationStore
{
    private readonly StateDirectory _state;
    private readonly string _directory;
    private readonly Lock _gate = new();
    private readonly Dictionary<AttachmentKey, Entry> _byKey = [];
    private readonly Dictionary<string, AttachmentKey> _byIp = new(StringComparer.Ordinal);
    private readonly Dictionary<string, AttachmentKey> _underlayByEni = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _sharedByEni = new(StringComparer.Ordinal);

    private sealed record Entry(AllocationRecord Record, string Path);

    private AllocationStore(StateDirectory state)
    {
        _state = state;
        _directory = state.Subdirectory("allocations");
    }

    /// <summary>Loads the allocations recorded in <paramref name="state"/>; unreadable files are quarantined.</summary>
    public static AllocationStore Open(StateDirectory state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var store = new AllocationStore(state);
        store.Load();
        return store;
    }

    /// <summary>
    /// Held by whoever releases an attachment (a DEL, GC, reconcile): the check, the records written
    /// ahead of the removal and the removal are one step, so two releasers of one attachment never
    /// both queue its teardown (a second ReturnEni could pull the ENI out of its next pod).
    /// </summary>
    internal Lock ReleaseGate { get; } = new();

    /// <summary>The state directory it lives in (the sticky ENIs' records live beside it).</summary>
    internal StateDirectory State => _state;

    /// <summary>How many allocations are recorded.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _byKey.Count;
        }
    }

    /// <summary>Every allocation, in no particular order.</summary>
    public IReadOnlyList<AllocationRecord> All()
    {
        lock (_gate)
            return [.. _byKey.Values.Select(e => e.Record)];
    }

    /// <summary>The allocation of <paramref name="key"/>, if any.</summary>
    public bool TryGet(AttachmentKey key, [NotNullWhen(true)] out AllocationRecord? record)
    {
        lock (_gate)
        {
            record = _byKey.TryGetValue(key, out var entry) ? entry.Record : null;
            return record is not null;
        }
    }

    /// <summary>The allocation holding <paramref name="ip"/> (any textual form of an IPv4 address), if any.</summary>
    public bool TryGetByIp(string ip, [NotNullWhen(true)] out AllocationRecord? record)
    {
        lock (_gate)
        {
            record = _byIp.TryGetValue(CanonicalIp(ip), out var key) ? _byKey[key].Record : null;
            return record is not null;
        }
    }

    /// <summary>
    /// Whether a pod holds <paramref name="ip"/>: <see cref="TryGetByIp"/> without the record, one
    /// lookup by address instead of two (the address's, then the attachment's, whose key hashes three
    /// strings). A shared take asks it of every IP it passes over: on a node holding 700 allocations
    /// the two lookups were about a fifth of the agent's request threads' CPU (docs/benchmarks.md).
    /// </summary>
    public bool IsIpHeld(string ip)
    {
        lock (_gate)
            return _byIp.ContainsKey(CanonicalIp(ip));
    }

    /// <summary>Whether an ENI is held: whole by an underlay pod, or through secondary IPs by shared pods.</summary>
    public bool IsEniInUse(string eniId)
    {
        lock (_gate)
            return _underlayByEni.ContainsKey(eniId) || _sharedByEni.ContainsKey(eniId);
    }

    /// <summary>How many shared pods hold a secondary IP of the ENI (kept as records come and go, not counted).</summary>
    public int SharedIpsOn(string eniId)
    {
        lock (_gate)
            return _sharedByEni.GetValueOrDefault(eniId);
    }

    /// <summary>Whether an underlay pod holds the ENI whole.</summary>
    public bool IsEniHeldWhole(string eniId)
    {
        lock (_gate)
            return _underlayByEni.ContainsKey(eniId);
    }

    /// <summary>
    /// Records, durably and before anything acts on it, that <paramref name="key"/> holds
    /// <paramref name="allocation"/> (<see cref="AllocationState.Pending"/>). Asking again for the same
    /// key and allocation returns the existing record (an ADD retried by the runtime).
    /// </summary>
    /// <exception cref="AllocationConflictException">The key holds something else, or the IP or ENI has another holder.</exception>
    public AllocationRecord Reserve(AttachmentKey key, Allocation allocation, PodIdentity? pod = null, string? netnsPath = null) =>
        Put(key, allocation, pod, netnsPath, AllocationState.Pending);

    /// <summary>
    /// <see cref="Reserve"/> and <see cref="Commit"/> in one durable write, for a caller that does nothing
    /// between the two: the pools, which take a free IP or a warm ENI and answer the plugin at once —
    /// the cloud's work is done before (the IP is assigned, the ENI attached) and the kernel's after
    /// (the plugin wires the pod once it has the reply). The write-ahead rule holds as it did: the
    /// record is renamed into place before anyone hears of the allocation. A restarted agent treats a
    /// pending and a committed record alike (the resource stays held until a DEL, GC or reconcile
    /// releases it), so the pending write in between protected nothing; it cost an ADD one write more
    /// (two fsyncs with <c>syncStateWrites</c>). Asking again for the same key and allocation returns
    /// the existing record, committed.
    /// </summary>
    /// <exception cref="AllocationConflictException">The key holds something else, or the IP or ENI has another holder.</exception>
    public AllocationRecord Grant(AttachmentKey key, Allocation allocation, PodIdentity? pod = null, string? netnsPath = null)
    {
        lock (_gate)
        {
            var record = Put(key, allocation, pod, netnsPath, AllocationState.Committed);
            return record.State == AllocationState.Committed ? record : Commit(key);
        }
    }

    private AllocationRecord Put(AttachmentKey key, Allocation allocation, PodIdentity? pod, string? netnsPath, AllocationState state)
    {
        ArgumentNullException.ThrowIfNull(allocation);
        allocation.Validate();
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var existing))
            {
                if (existing.Record.Allocation == allocation)
                    return existing.Record;
                throw new AllocationConflictException(
                    $"{key} already holds {Describe(existing.Record.Allocation)}; refusing to record {Describe(allocation)} as well");
            }
            if (FindConflict(allocation) is { } why)
                throw new AllocationConflictException($"cannot give {Describe(allocation)} to {key}: {why}");
            var now = _state.Time.GetUtcNow();
            var record = new AllocationRecord
            {
                State = state,
                Network = key.Network,
                ContainerId = key.ContainerId,
                IfName = key.IfName,
                NetnsPath = netnsPath,
                Pod = pod,
                Allocation = allocation,
                CreatedAt = now,
                CommittedAt = state == AllocationState.Committed ? now : null,
            };
            var path = Path.Combine(_directory, key.FileName);
            Write(path, record);
            Index(new Entry(record, path));
            if (state == AllocationState.Committed)
                _state.Log.Info("allocation.committed", $"{key} holds {Describe(allocation)}",
                    ("attachment", key.ToString()), ("eni", allocation.EniId), ("ip", allocation.Ip), ("mode", Mode(allocation)));
            else
                _state.Log.Info("allocation.reserved", $"{key} holds {Describe(allocation)} (pending)",
                    ("attachment", key.ToString()), ("eni", allocation.EniId), ("ip", allocation.Ip), ("mode", Mode(allocation)));
            return record;
        }
    }

    /// <summary>Marks the allocation of <paramref name="key"/> committed (the action it was recorded for is done).</summary>
    /// <exception cref="KeyNotFoundException">Nothing is recorded for <paramref name="key"/>.</exception>
    public AllocationRecord Commit(AttachmentKey key)
    {
        lock (_gate)
        {
            if (!_byKey.TryGetValue(key, out var entry))
                throw new KeyNotFoundException($"no allocation is recorded for {key}");
            if (entry.Record.State == AllocationState.Committed)
                return entry.Record;
            var record = entry.Record with { State = AllocationState.Committed, CommittedAt = _state.Time.GetUtcNow() };
            Write(entry.Path, record);
            _byKey[key] = entry with { Record = record };
            _state.Log.Info("allocation.committed", $"{key} holds {Describe(record.Allocation)}", ("attachment", key.ToString()));
            return record;
        }
    }

    /// <summary>
    /// Records, durably, the destinations the underlay pod of <paramref name="key"/> reaches through its
    /// node veth now (<see cref="UnderlayAllocation.NodeRoutes"/>), once they were put right in the pod
    /// (<see cref="Pools.UnderlayRoutes"/>): a route added at a start is then removed like one its ADD
    /// made when the mode that wanted it goes.
    /// </summary>
    /// <exception cref="KeyNotFoundException">Nothing is recorded for <paramref name="key"/>.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="key"/> holds no underlay allocation.</exception>
    public AllocationRecord RecordNodeRoutes(AttachmentKey key, IReadOnlyList<string> nodeRoutes)
    {
        ArgumentNullException.ThrowIfNull(nodeRoutes);
        lock (_gate)
        {
            if (!_byKey.TryGetValue(key, out var entry))
                throw new KeyNotFoundException($"no allocation is recorded for {key}");
            if (entry.Record.Allocation is not UnderlayAllocation underlay)
                throw new InvalidOperationException($"{key} holds {Describe(entry.Record.Allocation)}, which has no node routes");
            var allocation = underlay with { NodeRoutes = nodeRoutes.Count == 0 ? null : [.. nodeRoutes] };
            allocation.Validate();
            var record = entry.Record with { Allocation = allocation };
            Write(entry.Path, record);
            _byKey[key] = entry with { Record = record };
            return record;
        }
    }

    /// <summary>
    /// Removes the allocation of <paramref name="key"/>, durably; false when there was none (DEL is
    /// idempotent). Record the IP's cooldown and the teardown before calling this.
    /// </summary>
    public bool TryRelease(AttachmentKey key, [NotNullWhen(true)] out AllocationRecord? released)
    {
        lock (_gate)
        {
            if (!_byKey.TryGetValue(key, out var entry))
            {
                released = null;
                return false;
            }
            _state.DeleteDurably(entry.Path);
            Unindex(entry);
            released = entry.Record;
            _state.Log.Info("allocation.released", $"{key} released {Describe(released.Allocation)}",
                ("attachment", key.ToString()), ("eni", released.Allocation.EniId), ("ip", released.Allocation.Ip));
            return true;
        }
    }

    private void Load()
    {
        foreach (var path in _state.Files(_directory))
        {
            AllocationRecord? record;
            try
            {
                var bytes = File.ReadAllBytes(path);
                if (StateDirectory.CheckHeader(bytes, AllocationRecord.FileKind, AllocationRecord.FormatVersion) is { } problem)
                {
                    _state.Quarantine(path, problem);
                    continue;
                }
                record = JsonSerializer.Deserialize(bytes, StateJsonContext.Default.AllocationRecord);
                record?.Allocation.Validate();
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or AgentException)
            {
                _state.Quarantine(path, $"not a valid allocation record: {e.Message}");
                continue;
            }
            catch (IOException e)
            {
                _state.Log.Error("state.unreadable", $"cannot read {path}: {e.Message}; its allocation is not loaded", ("file", path));
                continue;
            }
            if (record is null)
            {
                _state.Quarantine(path, "not a valid allocation record: null");
                continue;
            }
            if (_byKey.ContainsKey(record.Key) || FindConflict(record.Allocation) is not null)
            {
                // Two records claim one attachment or one resource: the store never writes that, so
                // a person or a bug did. Keep the first, set the other aside for someone to look at.
                _state.Quarantine(path, $"{record.Key} claims {Describe(record.Allocation)}, which another record already holds");
                continue;
            }
            Index(new Entry(record, path));
        }
        var pending = _byKey.Values.Count(e => e.Record.State == AllocationState.Pending);
        _state.Log.Info("allocations.loaded", $"loaded {_byKey.Count} allocations ({pending} pending) from {_directory}",
            ("count", _byKey.Count), ("pending", pending));
    }

    private string? FindConflict(Allocation allocation)
    {
        if (_byIp.TryGetValue(CanonicalIp(allocation.Ip), out var ipHolder))
            return $"{allocation.Ip} is held by {ipHolder}";
        if (_underlayByEni.TryGetValue(allocation.EniId, out var eniHolder))
            return $"{allocation.EniId} is in {eniHolder}'s pod";
        if (allocation is UnderlayAllocation && _sharedByEni.TryGetValue(allocation.EniId, out var shared))
            return $"{allocation.EniId} carries {shared} shared-mode IPs";
        return null;
    }

    private void Index(Entry entry)
    {
        var record = entry.Record;
        _byKey[record.Key] = entry;
        _byIp[CanonicalIp(record.Allocation.Ip)] = record.Key;
        if (record.Allocation is UnderlayAllocation)
            _underlayByEni[record.Allocation.EniId] = record.Key;
        else
            _sharedByEni[record.Allocation.EniId] = _sharedByEni.GetValueOrDefault(record.Allocation.EniId) + 1;
    }

    private void Unindex(Entry entry)
    {
        var record = entry.Record;
        _byKey.Remove(record.Key);
        _byIp.Remove(CanonicalIp(record.Allocation.Ip));
        if (record.Allocation is UnderlayAllocation)
            _underlayByEni.Remove(record.Allocation.EniId);
        else if (_sharedByEni[record.Allocation.EniId] is var n && n > 1)
            _sharedByEni[record.Allocation.EniId] = n - 1;
        else
            _sharedByEni.Remove(record.Allocation.EniId);
    }

    private void Write(string path, AllocationRecord record) =>
        _state.WriteAtomically(path, JsonSerializer.SerializeToUtf8Bytes(record, StateJsonContext.Default.AllocationRecord));

    /// <summary>
    /// One spelling per IPv4 address, so "10.0.0.05" cannot slip past "10.0.0.5". An address already
    /// spelled as IPAddress.ToString() spells it is returned as it is: every pool and cooldown lookup
    /// comes here, several per secondary IP when a pool is scanned for a free one, and parsing and
    /// formatting each was 7 % of the agent's request threads' CPU on a node of 700 IPs (perf record
    /// around <c>bench cni --memory-only</c>; a quarter of a take's pool scan).
    /// </summary>
    internal static string CanonicalIp(string ip) =>
        IsCanonicalIpv4(ip) ? ip : System.Net.IPAddress.TryParse(ip, out var address) ? address.ToString() : ip;

    // Four decimal parts of 0–255 without leading zeros: the dotted quad IPAddress.ToString() writes.
    private static bool IsCanonicalIpv4(string ip)
    {
        int dots = 0, value = 0, digits = 0;
        foreach (var c in ip)
        {
            if (c == '.')
            {
                if (digits == 0 || ++dots > 3) return false;
                value = digits = 0;
                continue;
            }
            if (c is < '0' or > '9' || (digits == 1 && value == 0)) return false;
            value = value * 10 + (c - '0');
            if (++digits > 3 || value > 255) return false;
        }
        return dots == 3 && digits > 0;
    }

    private static string Mode(Allocation allocation) => allocation is UnderlayAllocation ? "underlay" : "shared";

    private static string Describe(Allocation allocation) => allocation switch
    {
        UnderlayAllocation u => $"ENI {u.EniId} ({u.Address})",
        _ => $"IP {allocation.Address} of ENI {allocation.EniId}",
    };
}
