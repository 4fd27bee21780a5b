namespace Fathom.Datastore;

/// <summary>
/// Node subnet leases of one cluster (DESIGN.md §7): each node holds one subnet of the cluster
/// CIDR for a TTL, renews it, and gets the same one back after a restart. Implementations never
/// give one subnet to two live leases, whatever the races between agents.
/// </summary>
/// <remarks>
/// Errors: <see cref="SubnetPoolExhaustedException"/> when no subnet is free,
/// <see cref="DatastoreUnavailableException"/> when the store cannot be reached or cannot decide
/// (etcd without quorum) within its bound.
/// </remarks>
public interface ISubnetLeaseStore : IAsyncDisposable
{
    /// <summary>The cluster CIDR and subnet length this store hands out from.</summary>
    SubnetPool Pool { get; }

    /// <summary>The TTL a lease gets at each acquisition or renewal.</summary>
    TimeSpan Ttl { get; }

    /// <summary>
    /// Renews the node's lease, or acquires one: the node's own subnet when it still holds it or
    /// held it last and no other node took it since, else the lowest free subnet. Attributes given
    /// here replace the published ones (a node IP that changed is published at the next renewal).
    /// </summary>
    Task<SubnetLease> AcquireOrRenewAsync(NodeAttributes node, CancellationToken cancellationToken = default);

    /// <summary>Gives the node's subnet up now (peers see it removed); false when it held none.</summary>
    Task<bool> ReleaseAsync(string nodeName, CancellationToken cancellationToken = default);

    /// <summary>The live leases, by subnet.</summary>
    Task<IReadOnlyList<SubnetLease>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// The live leases as <see cref="SubnetLeaseEventKind.Added"/> events first, then each change
    /// until cancelled (list-then-watch, as an informer). Renewals that change nothing a peer routes
    /// by are not reported. After a lost connection the stream resynchronises and goes on; it ends
    /// only by cancellation or disposal of the store.
    /// </summary>
    IAsyncEnumerable<SubnetLeaseEvent> WatchAsync(CancellationToken cancellationToken = default);
}
