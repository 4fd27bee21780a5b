using System.Net;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fathom.Datastore.Embedded;

/// <summary>
/// The embedded store: subnet leases of one machine's agents (the lab) in a directory, one JSON
/// file per leased subnet. Allocation runs under an exclusive flock of <c>.lock</c>; each file is
/// written whole to a temporary name, fsynced and renamed over the old one, so a reader (or an
/// agent SIGKILLed mid-write) never sees a torn lease. Expiry is computed from the expiry time
/// stored in each file: an expired file stays until another node takes the subnet, so a node
/// back from a restart gets it again.
/// </summary>
/// <remarks>
/// Layout: <c>pool.json</c> (cluster CIDR and subnet length), <c>.lock</c>,
/// <c>leases/&lt;subnet-with-dash&gt;.json</c>, <c>quarantine/</c> (files that did not parse, moved
/// aside with a warning). Temporary files start with a dot and are ignored by readers.
/// </remarks>
public sealed partial class EmbeddedSubnetLeaseStore : ISubnetLeaseStore
{
    private const string LeaseSuffix = ".json";

    private readonly string _root;
    private readonly string _leases;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _disposed = new();
    private readonly HashSet<string> _reportedCorrupt = [];
    private int _isDisposed;

    private EmbeddedSubnetLeaseStore(EmbeddedStoreOptions options, SubnetPool pool, TimeProvider time, ILogger log)
    {
        _root = Path.GetFullPath(options.Directory);
        _leases = Path.Combine(_root, "leases");
        Pool = pool;
        Ttl = options.Ttl;
        RescanInterval = options.RescanInterval;
        LockTimeout = options.LockTimeout;
        _time = time;
        _log = log;
    }

    /// <inheritdoc/>
    public SubnetPool Pool { get; }

    /// <inheritdoc/>
    public TimeSpan Ttl { get; }

    /// <summary>How often a watch rescans the directory besides its inotify events (and finds expiries).</summary>
    public TimeSpan RescanInterval { get; }

    /// <summary>How long an operation waits for the allocation lock before it fails.</summary>
    public TimeSpan LockTimeout { get; }

    /// <summary>
    /// Opens (creating it if needed) the store in <see cref="EmbeddedStoreOptions.Directory"/>;
    /// fails with <see cref="DatastoreConfigurationException"/> when the directory was made for
    /// another cluster CIDR or subnet length.
    /// </summary>
    public static async Task<EmbeddedSubnetLeaseStore> OpenAsync(
        EmbeddedStoreOptions options, SubnetPool pool, TimeProvider? time = null, ILogger? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Ttl <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), options.Ttl, "the lease TTL must be positive");
        var store = new EmbeddedSubnetLeaseStore(options, pool, time ?? TimeProvider.System, log ?? NullLogger.Instance);
        Directory.CreateDirectory(store._leases);
        Directory.CreateDirectory(Path.Combine(store._root, "quarantine"));
        using (await store.LockAsync(cancellationToken).ConfigureAwait(false))
            store.CheckPoolRecord();
        return store;
    }

    /// <inheritdoc/>
    public async Task<SubnetLease> AcquireOrRenewAsync(NodeAttributes node, CancellationToken cancellationToken = default)
    {
        node.Validate();
        using var held = await LockAsync(cancellationToken).ConfigureAwait(false);
        RemoveTemporaryFiles();
        var now = _time.GetUtcNow();
        var stored = ReadAll(quarantine: true);
        var claims = stored.Select(s => new SubnetClaim(s.Lease.Subnet, s.Lease.Node.NodeName, s.Lease.Expires > now));
        var subnet = SubnetAllocator.Choose(Pool, node.NodeName, claims);

        var lease = new SubnetLease(subnet, node, now + Ttl);
        WriteAtomically(LeaseRecord.From(subnet, node, lease.Expires));
        // The node's older files (a subnet it held before another one, e.g. after a pool change) go:
        // one node, one subnet.
        foreach (var old in stored.Where(s => s.Lease.Node.NodeName == node.NodeName && !s.Lease.Subnet.Equals(subnet)))
            File.Delete(old.Path);
        return lease;
    }

    /// <inheritdoc/>
    public async Task<bool> ReleaseAsync(string nodeName, CancellationToken cancellationToken = default)
    {
        using var held = await LockAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var released = false;
        foreach (var s in ReadAll(quarantine: true).Where(s => s.Lease.Node.NodeName == nodeName))
        {
            released |= s.Lease.Expires > now;
            File.Delete(s.Path);
        }
        if (released) Interop.FsyncDirectory(_leases);
        return released;
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<SubnetLease>> ListAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        IReadOnlyList<SubnetLease> live = [.. ReadAll(quarantine: false).Select(s => s.Lease).Where(l => l.Expires > now).OrderBy(l => Pool.IndexOf(l.Subnet))];
        return Task.FromResult(live);
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<SubnetLeaseEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var token = linked.Token;
        // One pending signal is enough: each wake-up rescans everything.
        var wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        using var watcher = new FileSystemWatcher(_leases, "*" + LeaseSuffix)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size,
        };
        FileSystemEventHandler onChange = (_, _) => wake.Writer.TryWrite(true);
        watcher.Created += onChange;
        watcher.Changed += onChange;
        watcher.Deleted += onChange;
        watcher.Renamed += (_, _) => wake.Writer.TryWrite(true);
        watcher.Error += (_, e) => wake.Writer.TryWrite(true); // inotify overflow: the rescan covers it
        try
        {
            watcher.EnableRaisingEvents = true;
        }
        catch (IOException e)
        {
            // Out of inotify instances (fs.inotify.max_user_instances): the periodic rescan alone
            // still sees every change, only later.
            Log.NoInotify(_log, _leases, e.Message);
        }
        // The safety net (a lost inotify event, a directory on a filesystem without inotify) and the
        // clock of expiries, which no file event announces.
        using var rescan = _time.CreateTimer(_ => wake.Writer.TryWrite(true), null, RescanInterval, RescanInterval);

        var known = new Dictionary<IPNetwork, SubnetLease>();
        while (true)
        {
            var now = _time.GetUtcNow();
            var live = new Dictionary<IPNetwork, SubnetLease>();
            foreach (var s in ReadAll(quarantine: false))
                if (s.Lease.Expires > now) live[s.Lease.Subnet] = s.Lease;

            foreach (var (subnet, gone) in known.Where(k => !live.TryGetValue(k.Key, out var l) || l.Node.NodeName != k.Value.Node.NodeName).ToList())
            {
                known.Remove(subnet);
                yield return new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, gone);
            }
            foreach (var lease in live.Values.OrderBy(l => Pool.IndexOf(l.Subnet)))
            {
                var seen = known.TryGetValue(lease.Subnet, out var before);
                known[lease.Subnet] = lease;
                if (!seen || !before!.SameRouting(lease))
                    yield return new SubnetLeaseEvent(SubnetLeaseEventKind.Added, lease);
            }
            await wake.Reader.ReadAsync(token).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _isDisposed, 1) == 0) _disposed.Cancel(); // wakes the watches
        return ValueTask.CompletedTask;
    }

    private readonly record struct StoredLease(string Path, SubnetLease Lease);

    /// <summary>
    /// Every lease file that parses. One that does not (written by hand, or a disk that lost data)
    /// is logged and skipped, and, under the lock, moved to quarantine/ so it is reported once.
    /// </summary>
    private List<StoredLease> ReadAll(bool quarantine)
    {
        var result = new List<StoredLease>();
        foreach (var path in Directory.EnumerateFiles(_leases, "*" + LeaseSuffix))
        {
            var name = Path.GetFileName(path);
            if (name.StartsWith('.')) continue;
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(path);
            }
            catch (FileNotFoundException)
            {
                continue; // released between the listing and the read
            }
            var record = LeaseRecord.TryParse(bytes);
            var lease = record?.ToLease(null);
            var expectedName = lease is null ? null : SubnetPool.KeyOf(lease.Subnet) + LeaseSuffix;
            if (lease is null || lease.Expires is null || expectedName != name)
            {
                Corrupt(path, quarantine, bytes.Length);
                continue;
            }
            result.Add(new StoredLease(path, lease));
        }
        return result;
    }

    private void Corrupt(string path, bool quarantine, int length)
    {
        if (quarantine)
        {
            var target = Path.Combine(_root, "quarantine", Path.GetFileName(path) + "." + _time.GetUtcNow().ToUnixTimeMilliseconds());
            try
            {
                File.Move(path, target, overwrite: true);
                Log.Quarantined(_log, path, length, target);
            }
            catch (IOException e)
            {
                Log.Unreadable(_log, path, length, e.Message);
            }
            return;
        }
        lock (_reportedCorrupt)
            if (_reportedCorrupt.Add(path)) Log.Unreadable(_log, path, length, "not a lease record");
    }

    /// <summary>Write to a dot-file, fsync, close, rename over the lease, fsync the directory.</summary>
    private void WriteAtomically(LeaseRecord record)
    {
        var subnet = IPNetwork.Parse(record.Subnet);
        var final = Path.Combine(_leases, SubnetPool.KeyOf(subnet) + LeaseSuffix);
        var temporary = Path.Combine(_leases, $".{SubnetPool.KeyOf(subnet)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
        {
            file.Write(record.ToJson());
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, final, overwrite: true);
        Interop.FsyncDirectory(_leases);
    }

    /// <summary>Under the lock no writer is at work: a dot-file left is from an agent killed mid-write.</summary>
    private void RemoveTemporaryFiles()
    {
        foreach (var path in Directory.EnumerateFiles(_leases, ".*"))
            File.Delete(path);
    }

    private void CheckPoolRecord()
    {
        var path = Path.Combine(_root, "pool.json");
        var mine = new PoolRecord(Pool.ClusterCidr.ToString(), Pool.SubnetLength);
        if (File.Exists(path))
        {
            PoolRecord? stored = null;
            try
            {
                stored = JsonSerializer.Deserialize(File.ReadAllBytes(path), DatastoreJson.Default.PoolRecord);
            }
            catch (JsonException)
            {
            }
            if (stored == mine) return;
            if (stored is not null)
                throw new DatastoreConfigurationException(
                    $"embedded datastore {_root} holds leases of {stored.ClusterCidr} in /{stored.SubnetLength}s, not {Pool}: remove the directory or fix the configuration");
            Log.Unreadable(_log, path, -1, "rewritten from the configuration");
        }
        var temporary = path + ".tmp";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(JsonSerializer.SerializeToUtf8Bytes(mine, DatastoreJson.Default.PoolRecord));
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
        Interop.FsyncDirectory(_root);
    }

    /// <summary>
    /// The allocation lock: an exclusive flock(2) on <c>.lock</c>, which .NET takes (LOCK_EX | LOCK_NB)
    /// when a file is opened with <see cref="FileShare.None"/>; the kernel drops it when the holder
    /// dies, so a SIGKILLed agent never leaves the store locked. Polled, since the open does not block.
    /// </summary>
    private async Task<IDisposable> LockAsync(CancellationToken cancellationToken)
    {
        var path = Path.Combine(_root, ".lock");
        var start = Environment.TickCount64;
        var pause = 1;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (File.Exists(path))
            {
                // Real time, not _time: a fake clock in tests must not stall the lock.
                if (Environment.TickCount64 - start > LockTimeout.TotalMilliseconds)
                    throw new DatastoreUnavailableException($"embedded datastore {_root}: its lock {path} was held by another agent for over {LockTimeout.TotalSeconds:0.#} s");
                await Task.Delay(pause, cancellationToken).ConfigureAwait(false);
                pause = Math.Min(pause * 2, 10); // short: a lock held for a write is held for milliseconds
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "embedded datastore: lease file {Path} ({Length} bytes) is not a lease record; moved to {Target}")]
        public static partial void Quarantined(ILogger logger, string path, int length, string target);

        [LoggerMessage(Level = LogLevel.Warning, Message = "embedded datastore: ignoring {Path} ({Length} bytes): {Reason}")]
        public static partial void Unreadable(ILogger logger, string path, int length, string reason);

        [LoggerMessage(Level = LogLevel.Warning, Message = "embedded datastore: no inotify watch on {Path} ({Reason}); watching by rescans only")]
        public static partial void NoInotify(ILogger logger, string path, string reason);
    }
}
