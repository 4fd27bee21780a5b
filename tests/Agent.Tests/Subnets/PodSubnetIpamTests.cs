using System.Net;
using Fathom.Agent.Subnets;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>Issue 10 §2: pod addresses of the node's subnet are durable and never given twice.</summary>
public sealed class PodSubnetIpamTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fathom-ipam-").FullName;
    private string File => Path.Combine(_dir, "subnets", "host-gw.json");
    private static readonly IPNetwork Subnet = IPNetwork.Parse("10.244.3.0/29");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Addresses_skip_the_network_and_broadcast_addresses_and_run_out_at_the_subnets_size()
    {
        var ipam = PodSubnetIpam.Open(File);
        var given = Enumerable.Range(0, 6).Select(i => ipam.Allocate("net", $"c{i}", "eth0", Subnet, $"v{i}")!.Ip).ToList();
        Assert.Equal(["10.244.3.1", "10.244.3.2", "10.244.3.3", "10.244.3.4", "10.244.3.5", "10.244.3.6"], given);
        Assert.Null(ipam.Allocate("net", "c6", "eth0", Subnet, "v6"));
    }

    [Fact]
    public void A_retried_ADD_gets_the_same_address_also_after_a_restart()
    {
        var first = PodSubnetIpam.Open(File).Allocate("net", "c1", "eth0", Subnet, "v1");
        var reopened = PodSubnetIpam.Open(File);
        Assert.Equal(first, reopened.Allocate("net", "c1", "eth0", Subnet, "v1"));
        Assert.Equal("10.244.3.2", reopened.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);
    }

    [Fact]
    public void A_released_address_comes_free_only_once_its_veth_is_gone_and_the_record_survives_a_restart_meanwhile()
    {
        var ipam = PodSubnetIpam.Open(File);
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        var releasing = ipam.MarkReleasing("net", "c1", "eth0")!;
        Assert.True(releasing.Releasing);
        Assert.Null(ipam.MarkReleasing("net", "nobody", "eth0"));

        // An agent restarted between DEL and the veth's deletion still knows the address is taken.
        var reopened = PodSubnetIpam.Open(File);
        Assert.True(Assert.Single(reopened.All()).Releasing);
        Assert.Equal("10.244.3.2", reopened.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);

        reopened.Forget(releasing);
        Assert.Equal("10.244.3.1", reopened.Allocate("net", "c3", "eth0", Subnet, "v3")!.Ip);
    }

    [Fact]
    public void Concurrent_ADDs_never_share_an_address()
    {
        var ipam = PodSubnetIpam.Open(File);
        var wide = IPNetwork.Parse("10.244.4.0/24");
        var ips = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 200, i => ips.Add(ipam.Allocate("net", $"c{i}", "eth0", wide, $"v{i}")?.Ip ?? "full"));
        Assert.Equal(200, ips.Count(ip => ip != "full"));
        Assert.Equal(ips.Count(ip => ip != "full"), ips.Where(ip => ip != "full").Distinct().Count());
        Assert.Equal(200, PodSubnetIpam.Open(File).All().Count);
    }
}
