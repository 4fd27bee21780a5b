using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fathom.Datastore;

/// <summary>
/// Keeps one node's lease: renews it every <see cref="RenewInterval"/>, retries sooner after a
/// failure, and says when the lease was lost (expired by the local clock before a renewal got
/// through) or replaced by another subnet (it expired and another node took it meanwhile).
/// </summary>
public sealed partial class SubnetLeaseKeeper
{
    private readonly ISubnetLeaseStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private SubnetLease? _current;
    private Exception? _lastFailure;
    private bool _expiredReported;

    /// <summary>Creates the keeper of <paramref name="node"/>'s lease in <paramref name="store"/>.</summary>
    public SubnetLeaseKeeper(ISubnetLeaseStore store, NodeAttributes node, TimeProvider? time = null, ILogger? log = null)
    {
        _store = store;
        Node = node.Validate();
        _time = time ?? TimeProvider.System;
        _log = log ?? NullLogger.Instance;
        RenewInterval = SubnetLeaseDefaults.RenewInterval(store.Ttl);
        RetryInterval = TimeSpan.FromTicks(Math.Min(RenewInterval.Ticks / 4, TimeSpan.FromSeconds(5).Ticks));
    }

    /// <summary>The node and what it publishes; set a new value to publish it at the next renewal.</summary>
    public NodeAttributes Node { get; set; }

    /// <summary>Time between renewals (default a third of the TTL).</summary>
    public TimeSpan RenewInterval { get; init; }

    /// <summary>Time before another try after a failed renewal (default a quarter of the renewal interval, at most 5 s).</summary>
    public TimeSpan RetryInterval { get; init; }

    /// <summary>The lease as last acquired or renewed, or null before the first acquisition.</summary>
    public SubnetLease? Current => Volatile.Read(ref _current);

    /// <summary>
    /// Why the last renewal failed, or null when it got through: while this is set the node cannot
    /// tell whether its lease still stands, so callers refuse what needs it (a new pod's address).
    /// </summary>
    public Exception? LastFailure => Volatile.Read(ref _lastFailure);

    /// <summary>Called when a renewal got another subnet than the one held: the node's pods must move (the datapath renumbers).</summary>
    public Action<SubnetLease, SubnetLease>? SubnetChanged { get; init; }

    /// <summary>Called once when the held lease's expiry passed with no renewal: peers are forgetting the node.</summary>
    public Action<SubnetLease>? LeaseExpired { get; init; }

    /// <summary>The first acquisition (or the lease back after a restart); throws what the store throws.</summary>
    public async Task<SubnetLease> AcquireAsync(CancellationToken cancellationToken = default)
    {
        var lease = await _store.AcquireOrRenewAsync(Node, cancellationToken).ConfigureAwait(false);
        Update(lease);
        return lease;
    }

    /// <summary>Renews until cancelled (acquiring first if <see cref="AcquireAsync"/> was not called); failures are logged and retried.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var wait = Current is null ? TimeSpan.Zero : RenewInterval;
        while (true)
        {
            if (wait > TimeSpan.Zero) await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            try
            {
                Update(await _store.AcquireOrRenewAsync(Node, cancellationToken).ConfigureAwait(false));
                wait = RenewInterval;
            }
            catch (Exception e) when (e is DatastoreUnavailableException or SubnetPoolExhaustedException or IOException or HttpRequestException)
            {
                Volatile.Write(ref _lastFailure, e);
                Log.RenewFailed(_log, Node.NodeName, e.Message);
                if (Current is { } held && held.Expires <= _time.GetUtcNow() && !_expiredReported)
                {
                    _expiredReported = true;
                    Log.Expired(_log, Node.NodeName, held.Subnet.ToString());
                    LeaseExpired?.Invoke(held);
                }
                wait = RetryInterval;
            }
        }
    }

    private void Update(SubnetLease lease)
    {
        var before = Interlocked.Exchange(ref _current, lease);
        Volatile.Write(ref _lastFailure, null);
        _expiredReported = false;
        if (before is not null && !before.Subnet.Equals(lease.Subnet))
        {
            Log.SubnetChanged(_log, Node.NodeName, before.Subnet.ToString(), lease.Subnet.ToString());
            SubnetChanged?.Invoke(before, lease);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node}: subnet lease renewal failed, retrying: {Reason}")]
        public static partial void RenewFailed(ILogger logger, string node, string reason);

        [LoggerMessage(Level = LogLevel.Error, Message = "node {Node}: lease on {Subnet} expired before a renewal got through; peers forget the node's routes")]
        public static partial void Expired(ILogger logger, string node, string subnet);

        [LoggerMessage(Level = LogLevel.Warning, Message = "node {Node}: subnet changed from {Before} to {After} (the old lease expired and was taken)")]
        public static partial void SubnetChanged(ILogger logger, string node, string before, string after);
    }
}
