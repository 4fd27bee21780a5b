using Fathom.Datastore.Embedded;
using Fathom.Datastore.Etcd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fathom.Datastore.Configuration;

/// <summary>
/// The agent's <c>datastore</c> configuration section (docs/datastore.md lists the keys): which
/// store, the pool it cuts, and each store's own settings.
/// </summary>
public sealed record DatastoreOptions
{
    /// <summary>The embedded store's kind name.</summary>
    public const string Embedded = "embedded";

    /// <summary>The etcd store's kind name.</summary>
    public const string Etcd = "etcd";

    /// <summary><c>embedded</c> (default) or <c>etcd</c>.</summary>
    public string Kind { get; init; } = Embedded;

    /// <summary>The cluster's pod CIDR, e.g. 10.244.0.0/16.</summary>
    public required string ClusterCidr { get; init; }

    /// <summary>The prefix length of each node's subnet (default 24).</summary>
    public int SubnetLength { get; init; } = 24;

    /// <summary>The lease TTL (default <see cref="SubnetLeaseDefaults.Ttl"/>).</summary>
    public TimeSpan Ttl { get; init; } = SubnetLeaseDefaults.Ttl;

    /// <summary>The embedded store's directory.</summary>
    public string Directory { get; init; } = EmbeddedStoreOptions.DefaultDirectory;

    /// <summary>The etcd members' client URLs.</summary>
    public IReadOnlyList<Uri> EtcdEndpoints { get; init; } = [];

    /// <summary>The cluster name under which etcd keys live (<c>/fathom/&lt;cluster&gt;/</c>).</summary>
    public string Cluster { get; init; } = "default";

    /// <summary>The bound on one etcd operation (default 5 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Opens the store this configuration names.</summary>
    /// <exception cref="ArgumentException">An unknown kind, a malformed CIDR, no etcd endpoint.</exception>
    public async Task<ISubnetLeaseStore> OpenAsync(TimeProvider? time = null, ILoggerFactory? logs = null, CancellationToken cancellationToken = default)
    {
        var pool = SubnetPool.Parse(ClusterCidr, SubnetLength);
        logs ??= NullLoggerFactory.Instance;
        switch (Kind)
        {
            case Embedded:
                return await EmbeddedSubnetLeaseStore.OpenAsync(
                    new EmbeddedStoreOptions(Directory) { Ttl = Ttl }, pool, time, logs.CreateLogger<EmbeddedSubnetLeaseStore>(), cancellationToken).ConfigureAwait(false);
            case Etcd:
                if (EtcdEndpoints.Count == 0) throw new ArgumentException("datastore kind etcd needs at least one endpoint (datastore.etcd.endpoints)");
                return await EtcdSubnetLeaseStore.ConnectAsync(
                    new EtcdStoreOptions(EtcdEndpoints, Cluster) { Ttl = Ttl, RequestTimeout = RequestTimeout }, pool, time, logs.CreateLogger<EtcdSubnetLeaseStore>(), cancellationToken).ConfigureAwait(false);
            default:
                throw new ArgumentException($"unknown datastore kind '{Kind}' (known: {Embedded}, {Etcd})");
        }
    }
}
