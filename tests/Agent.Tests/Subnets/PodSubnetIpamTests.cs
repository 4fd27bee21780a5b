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

    // The folder's files, by name.
    private string[] OnDisk() => [.. Directory.GetFiles(Path.Combine(_dir, "subnets")).Select(Path.GetFileName).Order()!];

    [Fact]
    public void Each_change_goes_to_the_next_generation_and_no_write_replaces_a_file()
    {
        // ext4 flushes a file renamed over another (auto_da_alloc) while the ADD waits for the reply.
        var ipam = PodSubnetIpam.Open(File);
        Assert.Empty(OnDisk());
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        Assert.Equal(["host-gw.0000000000000000001.json"], OnDisk());
        var released = ipam.MarkReleasing("net", "c1", "eth0")!;
        Assert.Equal(["host-gw.0000000000000000002.json"], OnDisk());
        ipam.Forget(released);
        Assert.Equal(["host-gw.0000000000000000003.json"], OnDisk());
        Assert.Empty(PodSubnetIpam.Open(File).All());
    }

    [Fact]
    public void An_older_agents_file_is_read_and_superseded_by_the_next_change()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(File)!);
        System.IO.File.WriteAllText(File, """
            {"pods":[{"network":"net","containerId":"c1","ifName":"eth0","ip":"10.244.3.1","hostVeth":"v1","releasing":false}]}
            """);
        var ipam = PodSubnetIpam.Open(File);
        Assert.Equal("10.244.3.1", Assert.Single(ipam.All()).Ip);
        Assert.Equal("10.244.3.2", ipam.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);
        Assert.Equal(["host-gw.0000000000000000001.json"], OnDisk());
        Assert.Equal(2, PodSubnetIpam.Open(File).All().Count);
    }

    [Fact]
    public void After_a_crash_between_the_write_and_the_unlink_the_newest_generation_wins()
    {
        var ipam = PodSubnetIpam.Open(File);
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        var folder = Path.Combine(_dir, "subnets");
        // As a crash leaves it: the previous generation not yet unlinked, a next one's write cut short.
        System.IO.File.Copy(Path.Combine(folder, "host-gw.0000000000000000001.json"), Path.Combine(folder, "host-gw.0000000000000000002.json"));
        System.IO.File.WriteAllText(Path.Combine(folder, "host-gw.0000000000000000001.json"), """{"pods":[]}""");
        System.IO.File.WriteAllText(Path.Combine(folder, "host-gw.0000000000000000003.json.tmp"), "{\"pods\":[");
        System.IO.File.WriteAllText(Path.Combine(folder, "overlay.0000000000000000009.json"), """{"pods":[]}""");

        var reopened = PodSubnetIpam.Open(File);
        Assert.Equal("10.244.3.1", Assert.Single(reopened.All()).Ip);
        Assert.Equal(["host-gw.0000000000000000002.json", "overlay.0000000000000000009.json"], OnDisk());
        reopened.Allocate("net", "c2", "eth0", Subnet, "v2");
        Assert.Equal(["host-gw.0000000000000000003.json", "overlay.0000000000000000009.json"], OnDisk());
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
