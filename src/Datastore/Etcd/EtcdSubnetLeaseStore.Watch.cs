using System.Runtime.CompilerServices;
using System.Text;

namespace Fathom.Datastore.Etcd;

public sealed partial class EtcdSubnetLeaseStore
{
    /// <summary>The pause before a watch resynchronises after an error, doubled up to the maximum.</summary>
    private static readonly TimeSpan WatchRetryMin = TimeSpan.FromMilliseconds(200), WatchRetryMax = TimeSpan.FromSeconds(5);

    /// <inheritdoc/>
    /// <remarks>
    /// List, then watch from the listed revision + 1, so that nothing falls between the two. When the
    /// stream breaks (a member died, quorum lost, the revision compacted) the watch lists again,
    /// reports the difference with what it knew, and watches on from there, on the next member.
    /// </remarks>
    public async IAsyncEnumerable<SubnetLeaseEvent> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposed.Token);
        var token = linked.Token;
        var known = new Dictionary<string, SubnetLease>(StringComparer.Ordinal);
        var subnets = Key("subnets/");
        var retry = WatchRetryMin;
        while (true)
        {
            var (snapshot, failure) = await TryAsync<RangeResponse>(async () => await _etcd.RangeAsync(new RangeRequest { Key = subnets, RangeEnd = PrefixEnd(subnets) }, token).ConfigureAwait(false), token).ConfigureAwait(false);
            if (snapshot is not null)
            {
                foreach (var e in Resynchronise(known, snapshot)) yield return e;

                var create = new WatchCreateRequest { Key = subnets, RangeEnd = PrefixEnd(subnets), StartRevision = snapshot.Header.Revision + 1 };
                var stream = _etcd.WatchAsync(create, token).GetAsyncEnumerator(token);
                await using (stream.ConfigureAwait(false))
                {
                    while (true)
                    {
                        (var response, failure) = await TryAsync(async () => await stream.MoveNextAsync().ConfigureAwait(false) ? stream.Current : null, token).ConfigureAwait(false);
                        if (response is null || response.Canceled || response.CompactRevision > 0)
                        {
                            failure ??= response?.CancelReason ?? (response is null ? "the stream ended" : $"compacted at revision {response.CompactRevision}");
                            break;
                        }
                        retry = WatchRetryMin; // the stream works
                        foreach (var e in Apply(known, response)) yield return e;
                    }
                }
            }
            Log.WatchInterrupted(_log, failure ?? "unknown");
            await Task.Delay(retry, token).ConfigureAwait(false);
            retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, WatchRetryMax.Ticks));
        }
    }

    /// <summary>A call whose failure (etcd down, a broken stream) is a reason to resynchronise, not an error of the watch.</summary>
    private static async Task<(T? Result, string? Failure)> TryAsync<T>(Func<Task<T?>> call, CancellationToken token) where T : class
    {
        try
        {
            return (await call().ConfigureAwait(false), null);
        }
        catch (Exception e) when (!token.IsCancellationRequested && e is DatastoreUnavailableException or EtcdRequestException
                                      or HttpRequestException or IOException or System.Text.Json.JsonException)
        {
            return (null, e.Message);
        }
    }

    /// <summary>The events that take <paramref name="known"/> to a fresh listing: what went, what came or changed.</summary>
    private List<SubnetLeaseEvent> Resynchronise(Dictionary<string, SubnetLease> known, RangeResponse snapshot)
    {
        var events = new List<SubnetLeaseEvent>();
        var now = new Dictionary<string, SubnetLease>(StringComparer.Ordinal);
        foreach (var kv in snapshot.Kvs)
            if (ParseLease(kv) is { } lease) now[Encoding.UTF8.GetString(kv.Key)] = lease;
        foreach (var (key, gone) in known.Where(k => !now.ContainsKey(k.Key)).ToList())
        {
            known.Remove(key);
            events.Add(new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, gone));
        }
        foreach (var (key, lease) in now.OrderBy(n => Pool.IndexOf(n.Value.Subnet)))
            Apply(known, key, lease, events);
        return events;
    }

    /// <summary>The events of one watch response.</summary>
    private List<SubnetLeaseEvent> Apply(Dictionary<string, SubnetLease> known, WatchResponse response)
    {
        var events = new List<SubnetLeaseEvent>();
        foreach (var ev in response.Events)
        {
            var key = Encoding.UTF8.GetString(ev.Kv.Key);
            if (ev.Type == "DELETE")
            {
                if (known.Remove(key, out var gone)) events.Add(new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, gone));
            }
            else if (ParseLease(ev.Kv) is { } lease)
            {
                Apply(known, key, lease, events);
            }
        }
        return events;
    }

    /// <summary>Records the lease at <paramref name="key"/>; an event unless only its TTL moved.</summary>
    private static void Apply(Dictionary<string, SubnetLease> known, string key, SubnetLease lease, List<SubnetLeaseEvent> events)
    {
        if (known.TryGetValue(key, out var before))
        {
            if (before.SameRouting(lease)) return;
            if (before.Node.NodeName != lease.Node.NodeName)
                events.Add(new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, before));
        }
        known[key] = lease;
        events.Add(new SubnetLeaseEvent(SubnetLeaseEventKind.Added, lease));
    }
}
