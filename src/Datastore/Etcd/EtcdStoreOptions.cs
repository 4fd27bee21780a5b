namespace Fathom.Datastore.Etcd;

/// <summary>Where etcd is and how the store uses it (configuration section <c>datastore.etcd</c>).</summary>
/// <param name="Endpoints">Client URLs of the members, e.g. http://10.0.0.5:2379; the store moves between them.</param>
/// <param name="Cluster">The cluster's name: keys live under <c>/fathom/&lt;cluster&gt;/</c>, so clusters can share an etcd.</param>
public sealed record EtcdStoreOptions(IReadOnlyList<Uri> Endpoints, string Cluster)
{
    /// <summary>The TTL of an etcd lease, in whole seconds (rounded up); etcd may raise a TTL below its minimum.</summary>
    public TimeSpan Ttl { get; init; } = SubnetLeaseDefaults.Ttl;

    /// <summary>The bound on one operation across every member: past it, <see cref="DatastoreUnavailableException"/>.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The key prefix: <c>/fathom/&lt;cluster&gt;</c>.</summary>
    public string Prefix => "/fathom/" + Cluster;
}
