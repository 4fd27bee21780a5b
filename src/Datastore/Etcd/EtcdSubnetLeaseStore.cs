using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fathom.Datastore.Etcd;

/// <summary>
/// Subnet leases in etcd v3, as flannel and Calico keep theirs: each lease is a key bound to an
/// etcd lease with the TTL, renewed by keep-alive, so etcd itself deletes the key of a node that
/// stops renewing and every watcher sees it go. Allocation is a transaction that creates the
/// subnet's key only if it does not exist: one subnet is never given to two nodes.
/// </summary>
/// <remarks>
/// Keys: <c>/fathom/&lt;cluster&gt;/pool</c> (cluster CIDR and subnet length, written once),
/// <c>/fathom/&lt;cluster&gt;/subnets/&lt;subnet-with-dash&gt;</c> (the lease record, bound to the etcd
/// lease), <c>/fathom/&lt;cluster&gt;/nodes/&lt;node&gt;</c> (the node's last subnet, without TTL, so
/// a node whose lease expired gets it back unless another node took it).
/// </remarks>
public sealed partial class EtcdSubnetLeaseStore : ISubnetLeaseStore
{
    /// <summary>Attempts of the read–decide–transact loop before contention is reported.</summary>
    private const int MaxAttempts = 16;

    private readonly EtcdGatewayClient _etcd;
    private readonly string _prefix;
    private readonly long _ttlSeconds;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _disposed = new();
    private int _isDisposed;

    /// <summary>The key and etcd lease of each node this instance acquired for, for the renewal's short path.</summary>
    private readonly ConcurrentDictionary<string, (byte[] Key, long Lease)> _held = new(StringComparer.Ordinal);

    private EtcdSubnetLeaseStore(EtcdStoreOptions options, SubnetPool pool, TimeProvider time, ILogger log)
    {
        _etcd = new EtcdGatewayClient(options.Endpoints, options.RequestTimeout);
        _prefix = options.Prefix;
        _ttlSeconds = Math.Max(1, (long)Math.Ceiling(options.Ttl.TotalSeconds));
        Pool = pool;
        Ttl = TimeSpan.FromSeconds(_ttlSeconds);
        _time = time;
        _log = log;
    }

    /// <inheritdoc/>
    public SubnetPool Pool { get; }

    /// <inheritdoc/>
    public TimeSpan Ttl { get; }

    /// <summary>The members and prefix, as errors name them.</summary>
    public string Datastore => $"{_etcd.Describe()} {_prefix}";

    /// <summary>
    /// Connects and checks (or records, the first time) the pool under the cluster's prefix:
    /// <see cref="DatastoreConfigurationException"/> when the cluster was set up with another one.
    /// </summary>
    public static async Task<EtcdSubnetLeaseStore> ConnectAsync(
        EtcdStoreOptions options, SubnetPool pool, TimeProvider? time = null, ILogger? log = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.Cluster) || options.Cluster.Contains('/', StringComparison.Ordinal))
            throw new ArgumentException($"'{options.Cluster}' is not a cluster name (non-empty, no '/')", nameof(options));
        var store = new EtcdSubnetLeaseStore(options, pool, time ?? TimeProvider.System, log ?? NullLogger.Instance);
        try
        {
            await store.CheckPoolRecordAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return store;
    }

    /// <inheritdoc/>
    public async Task<SubnetLease> AcquireOrRenewAsync(NodeAttributes node, CancellationToken cancellationToken = default)
    {
        node.Validate();
        // The common case, a renewal by the agent that acquired: its own key and a keep-alive, two
        // small requests, rather than reading every node's lease every TTL/3.
        if (_held.TryGetValue(node.NodeName, out var held))
        {
            var mine = await _etcd.RangeAsync(new RangeRequest { Key = held.Key }, cancellationToken).ConfigureAwait(false);
            if (mine.Kvs is [var kv] && kv.Lease == held.Lease && ParseLease(kv) is { } stored && stored.Node.NodeName == node.NodeName
                && await RenewAsync(kv, stored, node, cancellationToken).ConfigureAwait(false) is { } renewed)
                return renewed;
            _held.TryRemove(node.NodeName, out _);
        }

        var nodeKey = Key("nodes/" + node.NodeName);
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            var all = await _etcd.RangeAsync(new RangeRequest { Key = Key(""), RangeEnd = PrefixEnd(Key("")) }, cancellationToken).ConfigureAwait(false);
            var leases = ParseLeases(all.Kvs);
            var nodeKv = all.Kvs.FirstOrDefault(kv => kv.Key.AsSpan().SequenceEqual(nodeKey));

            if (leases.FirstOrDefault(l => l.Lease.Node.NodeName == node.NodeName) is { Kv: not null } own)
            {
                var renewed = await RenewAsync(own.Kv, own.Lease, node, cancellationToken).ConfigureAwait(false);
                if (renewed is null) continue; // the lease ended between the read and the keep-alive, or the record changed
                _held[node.NodeName] = (own.Kv.Key, own.Kv.Lease);
                return renewed;
            }

            var claims = leases.Select(l => new SubnetClaim(l.Lease.Subnet, l.Lease.Node.NodeName, Live: true))
                .Concat(ParseRemembered(all.Kvs));
            var subnet = SubnetAllocator.Choose(Pool, node.NodeName, claims);
            var grant = await _etcd.GrantAsync(_ttlSeconds, cancellationToken).ConfigureAwait(false);
            var subnetKey = Key("subnets/" + SubnetPool.KeyOf(subnet));
            var txn = await _etcd.TxnAsync(new TxnRequest
            {
                // The subnet is still free, and this node took nothing since the read (two agents of one
                // name racing would otherwise take two subnets).
                Compare =
                [
                    new Compare { Key = subnetKey, Target = "CREATE", CreateRevision = 0 },
                    new Compare { Key = nodeKey, Target = "MOD", ModRevision = nodeKv?.ModRevision ?? 0 },
                ],
                Success =
                [
                    new RequestOp { Put = new PutRequest { Key = subnetKey, Value = LeaseRecord.From(subnet, node, null).ToJson(), Lease = grant.Id } },
                    new RequestOp { Put = new PutRequest { Key = nodeKey, Value = JsonSerializer.SerializeToUtf8Bytes(new NodeRecord(subnet.ToString()), DatastoreJson.Default.NodeRecord) } },
                ],
            }, cancellationToken).ConfigureAwait(false);
            if (txn.Succeeded)
            {
                _held[node.NodeName] = (subnetKey, grant.Id);
                return new SubnetLease(subnet, node, _time.GetUtcNow() + TimeSpan.FromSeconds(grant.Ttl));
            }
            Log.Contention(_log, node.NodeName, subnet.ToString(), attempt + 1);
            await _etcd.RevokeAsync(grant.Id, cancellationToken).ConfigureAwait(false);
        }
        throw new DatastoreUnavailableException($"{Datastore}: no subnet for node '{node.NodeName}' after {MaxAttempts} attempts: other agents changed the leases at every attempt");
    }

    /// <inheritdoc/>
    public async Task<bool> ReleaseAsync(string nodeName, CancellationToken cancellationToken = default)
    {
        _held.TryRemove(nodeName, out _);
        var all = await _etcd.RangeAsync(new RangeRequest { Key = Key("subnets/"), RangeEnd = PrefixEnd(Key("subnets/")) }, cancellationToken).ConfigureAwait(false);
        var released = false;
        foreach (var (kv, lease) in ParseLeases(all.Kvs).Where(l => l.Lease.Node.NodeName == nodeName))
        {
            // Delete the key only if it is still this lease's (not retaken since the read), and the
            // node's memory of it: a released subnet is free for anyone.
            var txn = await _etcd.TxnAsync(new TxnRequest
            {
                Compare = [new Compare { Key = kv!.Key, Target = "MOD", ModRevision = kv.ModRevision }],
                Success = [new RequestOp { Delete = new DeleteRangeRequest { Key = kv.Key } }, new RequestOp { Delete = new DeleteRangeRequest { Key = Key("nodes/" + nodeName) } }],
            }, cancellationToken).ConfigureAwait(false);
            released |= txn.Succeeded;
            if (txn.Succeeded && kv.Lease != 0) await _etcd.RevokeAsync(kv.Lease, cancellationToken).ConfigureAwait(false);
        }
        return released;
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<SubnetLease>> ListAsync(CancellationToken cancellationToken = default)
    {
        var all = await _etcd.RangeAsync(new RangeRequest { Key = Key("subnets/"), RangeEnd = PrefixEnd(Key("subnets/")) }, cancellationToken).ConfigureAwait(false);
        return [.. ParseLeases(all.Kvs).Select(l => l.Lease).OrderBy(l => Pool.IndexOf(l.Subnet))];
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _isDisposed, 1) != 0) return;
        await _disposed.CancelAsync().ConfigureAwait(false); // ends the watches
        _etcd.Dispose();
    }

    /// <summary>Keep-alive of the node's etcd lease, and the record rewritten when its attributes changed; null to start over.</summary>
    private async Task<SubnetLease?> RenewAsync(KeyValue kv, SubnetLease stored, NodeAttributes node, CancellationToken ct)
    {
        var ttl = await _etcd.KeepAliveOnceAsync(kv.Lease, ct).ConfigureAwait(false);
        if (ttl <= 0) return null;
        var renewed = new SubnetLease(stored.Subnet, node, _time.GetUtcNow() + TimeSpan.FromSeconds(ttl));
        if (renewed.SameRouting(stored)) return renewed;
        var txn = await _etcd.TxnAsync(new TxnRequest
        {
            Compare = [new Compare { Key = kv.Key, Target = "MOD", ModRevision = kv.ModRevision }],
            Success = [new RequestOp { Put = new PutRequest { Key = kv.Key, Value = LeaseRecord.From(stored.Subnet, node, null).ToJson(), Lease = kv.Lease } }],
        }, ct).ConfigureAwait(false);
        return txn.Succeeded ? renewed : null;
    }

    private async Task CheckPoolRecordAsync(CancellationToken ct)
    {
        var key = Key("pool");
        var mine = new PoolRecord(Pool.ClusterCidr.ToString(), Pool.SubnetLength);
        var txn = await _etcd.TxnAsync(new TxnRequest
        {
            Compare = [new Compare { Key = key, Target = "CREATE", CreateRevision = 0 }],
            Success = [new RequestOp { Put = new PutRequest { Key = key, Value = JsonSerializer.SerializeToUtf8Bytes(mine, DatastoreJson.Default.PoolRecord) } }],
        }, ct).ConfigureAwait(false);
        if (txn.Succeeded) return;
        var stored = await _etcd.RangeAsync(new RangeRequest { Key = key }, ct).ConfigureAwait(false);
        PoolRecord? theirs = null;
        try
        {
            theirs = stored.Kvs.Count == 0 ? null : JsonSerializer.Deserialize(stored.Kvs[0].Value, DatastoreJson.Default.PoolRecord);
        }
        catch (JsonException)
        {
        }
        if (theirs != mine)
            throw new DatastoreConfigurationException(
                $"{Datastore} holds leases of {theirs?.ClusterCidr ?? "?"} in /{theirs?.SubnetLength.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}s, not {Pool}: use another cluster name or fix the configuration");
    }

    private readonly record struct StoredLease(KeyValue? Kv, SubnetLease Lease);

    private List<StoredLease> ParseLeases(IEnumerable<KeyValue> kvs)
    {
        var subnets = Key("subnets/");
        var result = new List<StoredLease>();
        foreach (var kv in kvs)
        {
            if (!kv.Key.AsSpan().StartsWith(subnets)) continue;
            if (ParseLease(kv) is { } lease) result.Add(new StoredLease(kv, lease));
        }
        return result;
    }

    /// <summary>The lease a key holds, or null (logged) when the value is not a lease record of this key.</summary>
    private SubnetLease? ParseLease(KeyValue kv)
    {
        var lease = LeaseRecord.TryParse(kv.Value ?? [])?.ToLease(null);
        var name = Encoding.UTF8.GetString(kv.Key);
        if (lease is null || !name.EndsWith("/" + SubnetPool.KeyOf(lease.Subnet), StringComparison.Ordinal))
        {
            Log.Unreadable(_log, name);
            return null;
        }
        return lease;
    }

    private IEnumerable<SubnetClaim> ParseRemembered(IEnumerable<KeyValue> kvs)
    {
        var nodes = Key("nodes/");
        foreach (var kv in kvs)
        {
            if (!kv.Key.AsSpan().StartsWith(nodes) || kv.Value is null) continue;
            NodeRecord? record = null;
            try
            {
                record = JsonSerializer.Deserialize(kv.Value, DatastoreJson.Default.NodeRecord);
            }
            catch (JsonException)
            {
            }
            if (record?.Subnet is not null && IPNetwork.TryParse(record.Subnet, out var subnet))
                yield return new SubnetClaim(subnet, Encoding.UTF8.GetString(kv.Key.AsSpan(nodes.Length)), Live: false);
        }
    }

    private byte[] Key(string relative) => Encoding.UTF8.GetBytes(_prefix + "/" + relative);

    /// <summary>The range end that makes a prefix query (clientv3.GetPrefixRangeEnd): the prefix with its last byte + 1.</summary>
    internal static byte[] PrefixEnd(byte[] prefix)
    {
        var end = (byte[])prefix.Clone();
        for (var i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xFF)
            {
                end[i]++;
                return end[..(i + 1)];
            }
        }
        return [0]; // all keys
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "etcd datastore: ignoring {Key}: not a lease record")]
        public static partial void Unreadable(ILogger logger, string key);

        [LoggerMessage(Level = LogLevel.Debug, Message = "etcd datastore: node {Node} lost the race for {Subnet} (attempt {Attempt}); reading again")]
        public static partial void Contention(ILogger logger, string node, string subnet, int attempt);

        [LoggerMessage(Level = LogLevel.Warning, Message = "etcd datastore: watch interrupted, resynchronising: {Reason}")]
        public static partial void WatchInterrupted(ILogger logger, string reason);
    }
}
