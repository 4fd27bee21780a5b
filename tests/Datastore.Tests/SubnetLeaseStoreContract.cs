using System.Net;
using System.Net.NetworkInformation;
using Fathom.Datastore.Tests.Support;

namespace Fathom.Datastore.Tests;

/// <summary>
/// What every <see cref="ISubnetLeaseStore"/> promises, run against each implementation by a
/// subclass (<see cref="Embedded.EmbeddedContractTests"/>, <see cref="Etcd.EtcdContractTests"/>).
/// Each test works in a store of its own (a directory, an etcd prefix); several store instances on
/// it stand for several agents, or for one agent before and after a restart.
/// </summary>
public abstract class SubnetLeaseStoreContract : IAsyncLifetime
{
    protected static readonly SubnetPool Pool = SubnetPool.Parse("10.244.0.0/16", 24);

    private readonly List<IAsyncDisposable> _opened = [];

    /// <summary>
    /// A new store instance on this test's backing store: another agent, or the same one restarted.
    /// <paramref name="expiring"/>: the test lets its leases expire (a store on a real clock gives
    /// them a TTL of seconds; the others a TTL no slow machine outlasts).
    /// </summary>
    protected abstract Task<ISubnetLeaseStore> CreateStoreAsync(SubnetPool pool, bool expiring);

    /// <summary>Lets time pass beyond the TTL of every lease granted so far.</summary>
    protected abstract Task LetLeasesExpireAsync();

    /// <summary>The store's clock.</summary>
    protected abstract DateTimeOffset Now { get; }

    protected async Task<ISubnetLeaseStore> OpenAsync(SubnetPool? pool = null, bool expiring = false)
    {
        var store = await CreateStoreAsync(pool ?? Pool, expiring);
        _opened.Add(store);
        return store;
    }

    protected async Task<WatchProbe> WatchAsync(ISubnetLeaseStore store)
    {
        var probe = new WatchProbe(store);
        _opened.Insert(0, probe); // stopped before its store
        await Task.Yield();
        return probe;
    }

    protected static NodeAttributes Node(string name, int ip = 1) => new(name, IPAddress.Parse($"192.168.0.{ip}"));

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public virtual async Task DisposeAsync()
    {
        foreach (var d in _opened) await d.DisposeAsync();
    }

    [Fact]
    public async Task Acquire_gives_the_lowest_free_subnet_and_a_renewal_keeps_it()
    {
        var store = await OpenAsync();
        var first = await store.AcquireOrRenewAsync(Node("a"));
        Assert.Equal(Pool[0], first.Subnet);
        Assert.Equal("a", first.Node.NodeName);
        Assert.NotNull(first.Expires);
        Assert.InRange(first.Expires!.Value, Now + store.Ttl - TimeSpan.FromSeconds(2), Now + store.Ttl + TimeSpan.FromSeconds(1));

        var renewed = await store.AcquireOrRenewAsync(Node("a"));
        Assert.Equal(first.Subnet, renewed.Subnet);
        Assert.Single(await store.ListAsync());
    }

    [Fact]
    public async Task Nodes_get_distinct_subnets_and_list_shows_each_with_what_peers_need()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        var vtep = new Vtep(PhysicalAddress.Parse("0a-58-0a-f4-01-01"), 4096);
        await a.AcquireOrRenewAsync(Node("a", 1));
        await b.AcquireOrRenewAsync(new NodeAttributes("b", IPAddress.Parse("192.168.0.2"), vtep));

        var leases = await a.ListAsync();
        Assert.Equal([Pool[0], Pool[1]], leases.Select(l => l.Subnet));
        Assert.Equal(IPAddress.Parse("192.168.0.1"), leases[0].Node.NodeIp);
        Assert.Null(leases[0].Node.Vtep);
        Assert.Equal("b", leases[1].Node.NodeName);
        Assert.Equal(vtep.Mac, leases[1].Node.Vtep!.Mac);
        Assert.Equal(4096, leases[1].Node.Vtep!.Vni);
    }

    [Fact]
    public async Task An_agent_restarted_within_the_ttl_gets_its_subnet_back()
    {
        var before = await OpenAsync();
        await before.AcquireOrRenewAsync(Node("a"));
        var held = await before.AcquireOrRenewAsync(Node("b"));
        await before.DisposeAsync();

        var after = await OpenAsync();
        await after.AcquireOrRenewAsync(Node("c"));
        Assert.Equal(held.Subnet, (await after.AcquireOrRenewAsync(Node("b"))).Subnet);
    }

    [Fact]
    public async Task A_lease_expired_but_not_taken_since_is_given_back_to_its_node()
    {
        var store = await OpenAsync(expiring: true);
        var a = await store.AcquireOrRenewAsync(Node("a"));
        await LetLeasesExpireAsync();
        await Eventually.TrueAsync(async () => (await store.ListAsync()).Count == 0, "a's lease to expire");

        // Another node prefers a subnet nobody remembers; the expired one waits for its node.
        var b = await store.AcquireOrRenewAsync(Node("b"));
        Assert.NotEqual(a.Subnet, b.Subnet);
        Assert.Equal(a.Subnet, (await store.AcquireOrRenewAsync(Node("a"))).Subnet);
    }

    [Fact]
    public async Task A_node_that_stops_renewing_loses_its_lease_and_watchers_forget_it()
    {
        var agent = await OpenAsync(expiring: true);
        var peer = await OpenAsync();
        var lease = await agent.AcquireOrRenewAsync(Node("gone"));
        var watch = await WatchAsync(peer);
        var added = await watch.NextAsync("the existing lease");
        Assert.Equal((SubnetLeaseEventKind.Added, lease.Subnet), (added.Kind, added.Lease.Subnet));

        await LetLeasesExpireAsync();
        var removed = await watch.NextAsync("the expiry of the lease");
        Assert.Equal((SubnetLeaseEventKind.Removed, lease.Subnet, "gone"), (removed.Kind, removed.Lease.Subnet, removed.Lease.Node.NodeName));
        Assert.Empty(await peer.ListAsync());
    }

    [Fact]
    public async Task Watch_reports_new_leases_and_changed_attributes_but_not_renewals()
    {
        var store = await OpenAsync();
        var watch = await WatchAsync(store);
        var a = await store.AcquireOrRenewAsync(Node("a", 1));
        Assert.Equal(("a", SubnetLeaseEventKind.Added), await NextOf(watch, "a added"));

        await store.AcquireOrRenewAsync(Node("a", 1)); // a renewal: nothing a peer routes by
        await store.AcquireOrRenewAsync(Node("b", 2));
        Assert.Equal(("b", SubnetLeaseEventKind.Added), await NextOf(watch, "b added, and nothing for a's renewal"));

        var moved = await store.AcquireOrRenewAsync(Node("a", 9)); // a's node IP changed
        Assert.Equal(a.Subnet, moved.Subnet);
        var e = await watch.NextAsync("a's new node IP");
        Assert.Equal((SubnetLeaseEventKind.Added, IPAddress.Parse("192.168.0.9")), (e.Kind, e.Lease.Node.NodeIp));
    }

    [Fact]
    public async Task Release_frees_the_subnet_at_once_and_watchers_see_it_go()
    {
        var store = await OpenAsync();
        var a = await store.AcquireOrRenewAsync(Node("a"));
        var watch = await WatchAsync(store);
        await watch.NextAsync("the existing lease");

        Assert.True(await store.ReleaseAsync("a"));
        Assert.False(await store.ReleaseAsync("a"));
        var e = await watch.NextAsync("the release");
        Assert.Equal((SubnetLeaseEventKind.Removed, a.Subnet), (e.Kind, e.Lease.Subnet));
        Assert.Empty(await store.ListAsync());
        Assert.Equal(a.Subnet, (await store.AcquireOrRenewAsync(Node("b"))).Subnet); // free for anyone
    }

    [Fact]
    public async Task Agents_racing_never_get_one_subnet_twice()
    {
        var stores = new List<ISubnetLeaseStore>();
        for (var i = 0; i < 6; i++) stores.Add(await OpenAsync());
        var leases = await Task.WhenAll(Enumerable.Range(0, 12).Select(i =>
            Task.Run(() => stores[i % stores.Count].AcquireOrRenewAsync(Node($"n{i}", i + 1)))));

        Assert.Equal(12, leases.Select(l => l.Subnet).Distinct().Count());
        Assert.Equal(Enumerable.Range(0, 12).Select(i => Pool[i]).ToHashSet(), leases.Select(l => l.Subnet).ToHashSet());
        Assert.Equal(12, (await stores[0].ListAsync()).Count);
    }

    [Fact]
    public async Task Exhaustion_is_an_error_naming_the_cluster_cidr_and_the_count()
    {
        var tiny = SubnetPool.Parse("10.99.0.0/29", 30);
        var store = await OpenAsync(tiny);
        await store.AcquireOrRenewAsync(Node("a"));
        await store.AcquireOrRenewAsync(Node("b"));
        var e = await Assert.ThrowsAsync<SubnetPoolExhaustedException>(() => store.AcquireOrRenewAsync(Node("c")));
        Assert.Contains("10.99.0.0/29", e.Message, StringComparison.Ordinal);
        Assert.Contains("all 2 are leased", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_configured_with_another_pool_is_refused()
    {
        await OpenAsync();
        var e = await Assert.ThrowsAsync<DatastoreConfigurationException>(() => OpenAsync(SubnetPool.Parse("10.245.0.0/16", 24)));
        Assert.Contains("10.244.0.0/16", e.Message, StringComparison.Ordinal);
    }

    private static async Task<(string, SubnetLeaseEventKind)> NextOf(WatchProbe watch, string what)
    {
        var e = await watch.NextAsync(what);
        return (e.Lease.Node.NodeName, e.Kind);
    }
}
