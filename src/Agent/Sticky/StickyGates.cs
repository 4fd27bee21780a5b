namespace Fathom.Agent.Sticky;

/// <summary>
/// What both sticky kinds (<see cref="StickyEnis"/>, <see cref="StickyIps"/>) keep beside their records:
/// one gate per pod, so a pod's ADD and the background pass never work its record at once; and the
/// resources (ENI ids, IPs) forgotten because another node took them, still reserved for ten minutes,
/// until the pool has surely let go of them.
/// </summary>
internal sealed class StickyGates(TimeProvider time)
{
    private static readonly TimeSpan GoneMemory = TimeSpan.FromMinutes(10);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, SemaphoreSlim> _busy = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _gone = new(StringComparer.Ordinal);

    /// <summary>The gate of a pod (<c>namespace/name</c>).</summary>
    public SemaphoreSlim Of(string identity)
    {
        lock (_gate)
        {
            if (!_busy.TryGetValue(identity, out var gate))
                _busy[identity] = gate = new SemaphoreSlim(1, 1);
            return gate;
        }
    }

    /// <summary>Runs <paramref name="pass"/> for each pod whose gate is free now, holding it; a pod an ADD is at is skipped.</summary>
    public async Task ForEachIdleAsync(IEnumerable<string> identities, Func<string, Task> pass)
    {
        foreach (var identity in identities)
        {
            var gate = Of(identity);
            if (!gate.Wait(0)) continue;
            try
            {
                await pass(identity).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        }
    }

    /// <summary>Remembers <paramref name="resource"/> as taken by another node (reserved from now for <see cref="GoneMemory"/>).</summary>
    public void MarkGone(string resource)
    {
        lock (_gate) _gone[resource] = time.GetUtcNow();
    }

    /// <summary>Forgets that <paramref name="resource"/> went (it is this node's again).</summary>
    public void Unmark(string resource)
    {
        lock (_gate) _gone.Remove(resource);
    }

    /// <summary>Whether <paramref name="resource"/> went to another node less than ten minutes ago.</summary>
    public bool IsGone(string resource)
    {
        lock (_gate) return _gone.ContainsKey(resource);
    }

    /// <summary>Drops what went longer ago than ten minutes.</summary>
    public void Prune()
    {
        var now = time.GetUtcNow();
        lock (_gate)
            foreach (var (resource, at) in _gone.ToList())
                if (now - at > GoneMemory) _gone.Remove(resource);
    }
}
