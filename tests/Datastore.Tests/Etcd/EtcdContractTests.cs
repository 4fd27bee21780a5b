using Fathom.Datastore.Etcd;
using Fathom.Datastore.Tests.Support;

namespace Fathom.Datastore.Tests.Etcd;

/// <summary>One real 3-member etcd cluster for the contract tests of a run; each test under its own cluster name.</summary>
public sealed class EtcdClusterFixture : IAsyncLifetime
{
    public EtcdCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await EtcdCluster.StartAsync(3);

    public async Task DisposeAsync()
    {
        if (Cluster is not null) await Cluster.DisposeAsync();
    }
}

/// <summary>
/// The contract on the etcd store. etcd itself is required: these fail (never skip) without the
/// etcd binary, which scripts/prereqs.sh installs (etcd-server).
/// </summary>
public sealed class EtcdContractTests(EtcdClusterFixture etcd) : SubnetLeaseStoreContract, IClassFixture<EtcdClusterFixture>
{
    /// <summary>Short, so that expiry tests take seconds; above etcd's minimum TTL with the cluster's 500 ms election timeout.</summary>
    private static readonly TimeSpan Ttl = TimeSpan.FromSeconds(2);

    /// <summary>For the tests that do not wait for expiry: no pause of a loaded machine ends these leases.</summary>
    private static readonly TimeSpan LongTtl = TimeSpan.FromSeconds(60);

    private readonly string _cluster = "test-" + Guid.NewGuid().ToString("N")[..12];

    protected override async Task<ISubnetLeaseStore> CreateStoreAsync(SubnetPool pool, bool expiring) =>
        await EtcdSubnetLeaseStore.ConnectAsync(new EtcdStoreOptions(etcd.Cluster.Endpoints, _cluster) { Ttl = expiring ? Ttl : LongTtl }, pool);

    // etcd's leader revokes expired leases on its own clock: the tests that follow wait for it with a bound.
    protected override Task LetLeasesExpireAsync() => Task.Delay(Ttl + TimeSpan.FromMilliseconds(500));

    protected override DateTimeOffset Now => DateTimeOffset.UtcNow;
}
