using System.Diagnostics;
using System.Net;
using Fathom.Datastore.Etcd;
using Fathom.Datastore.Tests.Support;

namespace Fathom.Datastore.Tests.Etcd;

/// <summary>
/// The etcd store against a real 3-member cluster that loses members (DESIGN.md §7): one member
/// down changes nothing; a member back catches up; two down is a clear, bounded error; all back
/// and the same store instance works again.
/// </summary>
public sealed class EtcdResilienceTests
{
    private static readonly SubnetPool Pool = SubnetPool.Parse("10.244.0.0/16", 24);

    private static NodeAttributes Node(string name, int ip) => new(name, IPAddress.Parse($"192.168.0.{ip}"));

    [PrivilegedFact("etcd")]
    public async Task Survives_a_member_lost_fails_clearly_without_quorum_and_recovers_by_itself()
    {
        await using var cluster = await EtcdCluster.StartAsync(3);
        var requestTimeout = TimeSpan.FromSeconds(3);
        await using var store = await EtcdSubnetLeaseStore.ConnectAsync(
            new EtcdStoreOptions(cluster.Endpoints, "resilience") { Ttl = TimeSpan.FromSeconds(30), RequestTimeout = requestTimeout }, Pool);
        var a = await store.AcquireOrRenewAsync(Node("a", 1));
        var d = await store.AcquireOrRenewAsync(Node("d", 4));
        var watch = new WatchProbe(store);
        await using var _ = watch;
        Assert.Equal("a", (await watch.NextAsync("a's lease")).Lease.Node.NodeName);
        Assert.Equal("d", (await watch.NextAsync("d's lease")).Lease.Node.NodeName);

        // One member down, the one the store (and its watch) talks to first: renewals, releases and
        // new leases go on, and the watch, moved to another member, misses none of them.
        cluster.Kill(0);
        Assert.Equal(a.Subnet, (await store.AcquireOrRenewAsync(Node("a", 1))).Subnet);
        Assert.True(await store.ReleaseAsync("d"));
        var b = await store.AcquireOrRenewAsync(Node("b", 2));
        Assert.Equal(d.Subnet, b.Subnet); // released, so free for anyone
        var seen = new[] { await watch.NextAsync("d's release, while a member is down"), await watch.NextAsync("b's lease, while a member is down") };
        Assert.Equal([(SubnetLeaseEventKind.Removed, "d"), (SubnetLeaseEventKind.Added, "b")], seen.Select(e => (e.Kind, e.Lease.Node.NodeName)));

        // Back, it catches up: a store that asks only it sees what was written while it was down.
        cluster.Restart(0);
        await cluster.WaitHealthyAsync(0);
        await using (var onlyFirst = await EtcdSubnetLeaseStore.ConnectAsync(new EtcdStoreOptions([cluster.Endpoints[0]], "resilience"), Pool))
            Assert.Equal(["a", "b"], (await onlyFirst.ListAsync()).Select(l => l.Node.NodeName));

        // Two down: no quorum. Operations fail within the bound, naming the datastore; no hang.
        cluster.Kill(1);
        cluster.Kill(2);
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DatastoreUnavailableException>(() => store.AcquireOrRenewAsync(Node("a", 1)));
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, requestTimeout + TimeSpan.FromSeconds(2));
        Assert.Contains("etcd (http://127.0.0.1:", e.Message, StringComparison.Ordinal);
        Assert.Contains("no quorum", e.Message, StringComparison.Ordinal);
        clock.Restart();
        await Assert.ThrowsAsync<DatastoreUnavailableException>(() => store.ListAsync());
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, requestTimeout + TimeSpan.FromSeconds(2));

        // Restored: the same store instance (and its watch) works again, without being recreated.
        cluster.Restart(1);
        cluster.Restart(2);
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                return (await store.AcquireOrRenewAsync(Node("a", 1))).Subnet.Equals(a.Subnet);
            }
            catch (DatastoreUnavailableException)
            {
                return false;
            }
        }, "the store to work again after quorum came back", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(200));
        Assert.Equal(Pool[2], (await store.AcquireOrRenewAsync(Node("c", 3))).Subnet);
        Assert.Equal("c", (await watch.NextAsync(ev => ev.Lease.Node.NodeName == "c", "c's lease, seen by the watch that lived through it all", TimeSpan.FromSeconds(30))).Lease.Node.NodeName);
    }

    [PrivilegedFact("etcd")]
    public async Task Keys_are_laid_out_under_the_cluster_prefix_with_the_lease_bound_to_an_etcd_lease()
    {
        await using var cluster = await EtcdCluster.StartAsync(1);
        await using var store = await EtcdSubnetLeaseStore.ConnectAsync(new EtcdStoreOptions(cluster.Endpoints, "layout"), Pool);
        await store.AcquireOrRenewAsync(Node("node-1", 1));

        using var etcd = new EtcdGatewayClient(cluster.Endpoints, TimeSpan.FromSeconds(5));
        var prefix = "/fathom/layout/"u8.ToArray();
        var all = await etcd.RangeAsync(new RangeRequest { Key = prefix, RangeEnd = EtcdSubnetLeaseStore.PrefixEnd(prefix) }, default);
        var keys = all.Kvs.ToDictionary(kv => System.Text.Encoding.UTF8.GetString(kv.Key));
        Assert.Equal(["/fathom/layout/nodes/node-1", "/fathom/layout/pool", "/fathom/layout/subnets/10.244.0.0-24"], keys.Keys.Order());
        Assert.NotEqual(0, keys["/fathom/layout/subnets/10.244.0.0-24"].Lease);
        Assert.Equal(0, keys["/fathom/layout/nodes/node-1"].Lease);
        Assert.Equal(0, keys["/fathom/layout/pool"].Lease);
    }
}
