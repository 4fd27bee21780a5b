using System.Net;
using Fathom.Agent.Subnets;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>Issue 10 §2: pod addresses of the node's subnet are durable and never given twice.</summary>
public sealed class PodSubnetIpamTests : IDisposable
{
    private readonly StateFixture _fx = new();
    private static readonly IPNetwork Subnet = IPNetwork.Parse("10.244.3.0/29");

    public void Dispose() => _fx.Dispose();

    private PodSubnetIpam Open() => PodSubnetIpam.Open(_fx.State, "host-gw");

    // What a SIGKILL then a start do: everything read again from disk.
    private PodSubnetIpam Reopen() => PodSubnetIpam.Open(_fx.Restart(), "host-gw");

    [Fact]
    public void Addresses_skip_the_network_and_broadcast_addresses_and_run_out_at_the_subnets_size()
    {
        var ipam = Open();
        var given = Enumerable.Range(0, 6).Select(i => ipam.Allocate("net", $"c{i}", "eth0", Subnet, $"v{i}")!.Ip).ToList();
        Assert.Equal(["10.244.3.1", "10.244.3.2", "10.244.3.3", "10.244.3.4", "10.244.3.5", "10.244.3.6"], given);
        Assert.Null(ipam.Allocate("net", "c6", "eth0", Subnet, "v6"));
    }

    [Fact]
    public void A_retried_ADD_gets_the_same_address_also_after_a_restart()
    {
        var first = Open().Allocate("net", "c1", "eth0", Subnet, "v1");
        var reopened = Reopen();
        Assert.Equal(first, reopened.Allocate("net", "c1", "eth0", Subnet, "v1"));
        Assert.Equal("10.244.3.2", reopened.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);
    }

    [Fact]
    public void A_released_address_comes_free_only_once_its_veth_is_gone_and_the_record_survives_a_restart_meanwhile()
    {
        var ipam = Open();
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        var releasing = ipam.MarkReleasing("net", "c1", "eth0")!;
        Assert.True(releasing.Releasing);
        Assert.Null(ipam.MarkReleasing("net", "nobody", "eth0"));

        // An agent restarted between DEL and the veth's deletion still knows the address is taken.
        var reopened = Reopen();
        Assert.True(Assert.Single(reopened.All()).Releasing);
        Assert.Equal("10.244.3.2", reopened.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);

        reopened.Forget(releasing);
        Assert.Equal("10.244.3.1", reopened.Allocate("net", "c3", "eth0", Subnet, "v3")!.Ip);
    }

    // The folder's files, by name.
    private string[] OnDisk() => [.. Directory.GetFiles(_fx.Path("subnets")).Select(Path.GetFileName).Order()!];

    [Fact]
    public void Each_change_goes_to_the_next_generation_and_no_write_replaces_a_file()
    {
        // ext4 flushes a file renamed over another (auto_da_alloc) while the ADD waits for the reply.
        var ipam = Open();
        Assert.Empty(OnDisk());
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        Assert.Equal(["host-gw.0000000000000000001.json"], OnDisk());
        var released = ipam.MarkReleasing("net", "c1", "eth0")!;
        Assert.Equal(["host-gw.0000000000000000002.json"], OnDisk());
        ipam.Forget(released);
        Assert.Equal(["host-gw.0000000000000000003.json"], OnDisk());
        Assert.Empty(Reopen().All());
    }

    [Fact]
    public void An_older_agents_file_is_read_and_superseded_by_the_next_change()
    {
        Directory.CreateDirectory(_fx.Path("subnets"));
        File.WriteAllText(_fx.Path("subnets", "host-gw.json"), """
            {"pods":[{"network":"net","containerId":"c1","ifName":"eth0","ip":"10.244.3.1","hostVeth":"v1","releasing":false}]}
            """);
        var ipam = Open();
        Assert.Equal("10.244.3.1", Assert.Single(ipam.All()).Ip);
        Assert.Equal("10.244.3.2", ipam.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);
        Assert.Equal(["host-gw.0000000000000000001.json"], OnDisk());
        Assert.Equal(2, Reopen().All().Count);
    }

    [Fact]
    public void After_a_crash_between_the_write_and_the_unlink_the_newest_generation_wins()
    {
        var ipam = Open();
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        var folder = _fx.Path("subnets");
        // As a crash leaves it: the previous generation not yet unlinked, a next one's write cut short.
        File.Copy(Path.Combine(folder, "host-gw.0000000000000000001.json"), Path.Combine(folder, "host-gw.0000000000000000002.json"));
        File.WriteAllText(Path.Combine(folder, "host-gw.0000000000000000001.json"), """{"pods":[]}""");
        File.WriteAllText(Path.Combine(folder, "host-gw.0000000000000000003.json.tmp"), "{\"pods\":[");
        File.WriteAllText(Path.Combine(folder, "overlay.0000000000000000009.json"), """{"pods":[]}""");

        var reopened = Reopen();
        Assert.Equal("10.244.3.1", Assert.Single(reopened.All()).Ip);
        Assert.Equal(["host-gw.0000000000000000002.json", "overlay.0000000000000000009.json"], OnDisk());
        reopened.Allocate("net", "c2", "eth0", Subnet, "v2");
        Assert.Equal(["host-gw.0000000000000000003.json", "overlay.0000000000000000009.json"], OnDisk());
    }

    [Fact]
    public void Concurrent_ADDs_never_share_an_address()
    {
        var ipam = Open();
        var wide = IPNetwork.Parse("10.244.4.0/24");
        var ips = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, 200, i => ips.Add(ipam.Allocate("net", $"c{i}", "eth0", wide, $"v{i}")?.Ip ?? "full"));
        Assert.Equal(200, ips.Count(ip => ip != "full"));
        Assert.Equal(ips.Count(ip => ip != "full"), ips.Where(ip => ip != "full").Distinct().Count());
        Assert.Equal(200, Reopen().All().Count);
    }

    [Theory]
    [InlineData("write-temporary")]
    [InlineData("fsync-temporary")]
    [InlineData("rename")]
    [InlineData("fsync-directory")]
    public void A_change_whose_write_fails_is_undone_so_nothing_is_answered_that_is_not_on_disk(string step)
    {
        var ipam = Open();
        ipam.Allocate("net", "c1", "eth0", Subnet, "v1");
        _fx.State.CrashPoint = s => { if (s == step) throw new IOException($"No space left on device (at {s})"); };
        Assert.Throws<IOException>(() => ipam.Allocate("net", "c2", "eth0", Subnet, "v2"));
        Assert.Throws<IOException>(() => ipam.MarkReleasing("net", "c1", "eth0"));
        Assert.Null(ipam.Find("net", "c2", "eth0"));
        Assert.False(ipam.Find("net", "c1", "eth0")!.Releasing);

        // The disk is back: the retried ADD and DEL write what failed.
        _fx.State.CrashPoint = null;
        Assert.Equal("10.244.3.2", ipam.Allocate("net", "c2", "eth0", Subnet, "v2")!.Ip);
        var releasing = ipam.MarkReleasing("net", "c1", "eth0")!;
        _fx.State.CrashPoint = s => { if (s == step) throw new IOException($"No space left on device (at {s})"); };
        Assert.Throws<IOException>(() => ipam.Forget(releasing));
        Assert.NotNull(ipam.Find("net", "c1", "eth0")); // not free until its removal is written
        _fx.State.CrashPoint = null;
        ipam.Forget(releasing);
        Assert.Equal([("c2", false)], Reopen().All().Select(e => (e.ContainerId, e.Releasing)));
    }

    [Fact]
    public void The_record_is_written_as_every_state_file_is_owner_only_and_with_its_fsyncs()
    {
        var steps = new List<string>();
        _fx.State.CrashPoint = steps.Add;
        Open().Allocate("net", "c1", "eth0", Subnet, "v1");
        Assert.Equal(["write-temporary", "fsync-temporary", "rename", "fsync-directory"], steps);
        var file = Assert.Single(Directory.GetFiles(_fx.Path("subnets")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_fx.Path("subnets")));
    }

    [Fact]
    public void A_record_that_does_not_parse_stops_the_open_naming_the_file_and_is_left_in_place()
    {
        // Forgetting which addresses the node's pods hold would hand them out again: no quarantine.
        Open().Allocate("net", "c1", "eth0", Subnet, "v1");
        var file = Assert.Single(Directory.GetFiles(_fx.Path("subnets")));
        File.WriteAllText(file, "{\"pods\":[{\"network\":");
        var error = Assert.Throws<IOException>(Reopen);
        Assert.StartsWith($"{file} does not parse: ", error.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(file));
    }
}
