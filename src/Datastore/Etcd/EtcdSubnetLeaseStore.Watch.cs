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
            token.ThrowIfCancellationRequested();
            RangeResponse? snapshot = null;
            string? failure = null;
            try
            {
                snapshot = await _etcd.RangeAsync(new RangeRequest { Key = subnets, RangeEnd = PrefixEnd(subnets) }, token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is DatastoreUnavailableException or EtcdRequestException or HttpRequestException or IOException)
            {
                failure = e.Message;
            }
            if (snapshot is null)
            {
                Log.WatchInterrupted(_log, failure!);
                await Task.Delay(retry, token).ConfigureAwait(false);
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, WatchRetryMax.Ticks));
                continue;
            }

            var now = new Dictionary<string, SubnetLease>(StringComparer.Ordinal);
            foreach (var kv in snapshot.Kvs)
                if (ParseLease(kv) is { } lease) now[Encoding.UTF8.GetString(kv.Key)] = lease;
            foreach (var (key, gone) in known.Where(k => !now.ContainsKey(k.Key)).ToList())
            {
                known.Remove(key);
                yield return new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, gone);
            }
            foreach (var (key, lease) in now.OrderBy(n => Pool.IndexOf(n.Value.Subnet)))
                foreach (var e in Apply(known, key, lease)) yield return e;

            var stream = _etcd.WatchAsync(new WatchCreateRequest { Key = subnets, RangeEnd = PrefixEnd(subnets), StartRevision = snapshot.Header.Revision + 1 }, token)
                .GetAsyncEnumerator(token);
            try
            {
                while (true)
                {
                    WatchResponse? response = null;
                    try
                    {
                        if (await stream.MoveNextAsync().ConfigureAwait(false)) response = stream.Current;
                        else failure = "the stream ended";
                    }
                    catch (Exception e) when (!token.IsCancellationRequested && e is DatastoreUnavailableException or EtcdRequestException or HttpRequestException or IOException or System.Text.Json.JsonException)
                    {
                        failure = e.Message;
                    }
                    if (response is null) break;
                    if (response.Canceled || response.CompactRevision > 0)
                    {
                        failure = response.CancelReason ?? $"compacted at revision {response.CompactRevision}";
                        break;
                    }
                    retry = WatchRetryMin; // the stream works
                    foreach (var ev in response.Events)
                    {
                        var key = Encoding.UTF8.GetString(ev.Kv.Key);
                        if (ev.Type == "DELETE")
                        {
                            if (known.Remove(key, out var gone)) yield return new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, gone);
                        }
                        else if (ParseLease(ev.Kv) is { } lease)
                        {
                            foreach (var e in Apply(known, key, lease)) yield return e;
                        }
                    }
                }
            }
            finally
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            Log.WatchInterrupted(_log, failure ?? "unknown");
            await Task.Delay(retry, token).ConfigureAwait(false);
            retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, WatchRetryMax.Ticks));
        }
    }

    /// <summary>The events that take <paramref name="known"/> to the new lease at <paramref name="key"/>.</summary>
    private static IEnumerable<SubnetLeaseEvent> Apply(Dictionary<string, SubnetLease> known, string key, SubnetLease lease)
    {
        if (known.TryGetValue(key, out var before))
        {
            if (before.SameRouting(lease)) yield break;
            if (before.Node.NodeName != lease.Node.NodeName)
                yield return new SubnetLeaseEvent(SubnetLeaseEventKind.Removed, before);
        }
        known[key] = lease;
        yield return new SubnetLeaseEvent(SubnetLeaseEventKind.Added, lease);
    }
}
