using Fathom.Agent.Protocol;
using Fathom.Agent.Subnets;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>
/// A subnet mode dropped from the config is taken off the node at the agent's next start
/// (<see cref="RetiredModes"/>, docs/agent.md "Removing a mode"): on the real kernel, a node running
/// host-gw and overlay beside a peer (both modes first drop a pin left for a node gone meanwhile)
/// loses overlay's VXLAN device, NAT table and cluster rule, then, with no subnet mode left, host-gw's
/// routes, table, rule and the pinned neighbours; a node that never ran one is not even looked at.
/// </summary>
public sealed class RetiredModesTests : IDisposable
{
    private readonly StateFixture _fx = new();
    private readonly StateFixture _peer = new();

    public void Dispose()
    {
        _fx.Dispose();
        _peer.Dispose();
    }

    [Fact]
    public void An_agent_that_never_ran_a_subnet_mode_neither_opens_the_kernel_nor_writes_a_record()
    {
        Assert.Empty(RetiredModes.Retire(null, _fx.State, _fx.Log, () => throw new InvalidOperationException("opened the kernel")));
        Assert.False(File.Exists(_fx.Path("subnets", "modes.json")));
    }

    [Fact]
    public void The_record_names_each_running_mode_its_cluster_cidr_and_overlays_device()
    {
        var config = Config("n", _fx.Path("store"), hostGw: true, overlay: true);
        Assert.Empty(RetiredModes.Retire(config, _fx.State, _fx.Log, () => throw new InvalidOperationException("opened the kernel")));

        var text = File.ReadAllText(_fx.Path("subnets", "modes.json"));
        Assert.StartsWith("{\n  \"modes\": [", text, StringComparison.Ordinal);
        Assert.Contains("\"kind\": \"fathom-agent-subnet-modes\"", text);
        Assert.Contains("\"version\": 1", text);
        Assert.Contains("\"mode\": \"host-gw\"", text);
        Assert.Contains("\"clusterCidr\": \"10.244.0.0/16\"", text);
        Assert.Contains("\"mode\": \"overlay\"", text);
        Assert.Contains("\"device\": \"fathom.1\"", text);
        Assert.Contains("\"lease\": {\n        \"node\": \"n\",\n        \"kind\": \"embedded\",\n        \"subnetLength\": 24,", text);
        Assert.Contains($"\"directory\": \"{_fx.Path("store", "overlay")}\"", text);
        // The same config again: nothing to remove, so the kernel is not opened either.
        Assert.Empty(RetiredModes.Retire(config, _fx.Restart(), _fx.Log, () => throw new InvalidOperationException("opened the kernel")));
    }

    [Fact]
    public void A_record_of_an_earlier_agent_without_leases_names_the_same_modes_and_gains_their_leases()
    {
        Directory.CreateDirectory(_fx.Path("subnets"));
        File.WriteAllText(_fx.Path("subnets", "modes.json"),
            "{\"kind\": \"fathom-agent-subnet-modes\", \"version\": 1, \"modes\": [{\"mode\": \"host-gw\", \"clusterCidr\": \"10.244.0.0/16\"}]}");

        Assert.Empty(RetiredModes.Retire(Config("n", _fx.Path("store"), hostGw: true, overlay: false), _fx.State, _fx.Log,
            () => throw new InvalidOperationException("opened the kernel")));

        Assert.Contains("\"node\": \"n\"", File.ReadAllText(_fx.Path("subnets", "modes.json")));
    }

    [Theory]
    [InlineData("{\"modes\": [")]
    [InlineData("{\"kind\": \"fathom-agent-subnet-modes\", \"version\": 2, \"modes\": []}")]
    public void A_record_that_does_not_parse_or_is_newer_is_quarantined_and_the_modes_run_are_recorded_again(string content)
    {
        Directory.CreateDirectory(_fx.Path("subnets"));
        File.WriteAllText(_fx.Path("subnets", "modes.json"), content);

        RetiredModes.Retire(Config("n", _fx.Path("store"), hostGw: true, overlay: false), _fx.State, _fx.Log, () => throw new InvalidOperationException("opened the kernel"));

        Assert.Single(_fx.Events("state.quarantined"));
        Assert.Contains("\"mode\": \"host-gw\"", File.ReadAllText(_fx.Path("subnets", "modes.json")));
    }

    [PrivilegedFact("ip", "nft", "nsenter", "bridge", "tc")]
    public async Task A_mode_dropped_from_the_config_leaves_nothing_behind_on_the_node_at_the_next_start()
    {
        using var fabric = new TwoNodeFabric("sr");
        using var ns0 = Netns.Open(fabric.Nodes[0].Path);
        using var ns1 = Netns.Open(fabric.Nodes[1].Path);
        var store = _fx.Path("store");
        var node = fabric.Nodes[0].Name;
        string Ip(params string[] args) => Shell.IpIn(node, args);
        string Nft(params string[] args) => Shell.Run("ip", ["netns", "exec", node, "nft", .. args]).Stdout;
        string Ingress(string device) => Shell.Exec(node, "tc", "filter", "show", "dev", device, "ingress").Stdout;

        // A pin an earlier run left for a node that went while the agent was down.
        Ip("neigh", "add", "10.80.0.77", "lladdr", "02:aa:bb:cc:dd:77", "dev", "eth0", "nud", "permanent", "proto", "95");
        await using var peer = SubnetModes.Start(Config("node1", store, hostGw: true, overlay: true), _peer.State, null, _peer.Log, null, ns1)!;
        var modes = SubnetModes.Start(Config("node0", store, hostGw: true, overlay: true, bpf: true), _fx.State, null, _fx.Log, null, ns0)!;
        try
        {
            var hostGwPeer = "";
            var overlayPeer = "";
            Eventually.True(() =>
            {
                hostGwPeer = peer.Networks[AllocationMode.HostGw].Lease?.Subnet.ToString() ?? "-";
                overlayPeer = peer.Networks[AllocationMode.Overlay].Lease?.Subnet.ToString() ?? "-";
                var routes = Ip("route", "show", "proto", "95");
                return routes.Contains(hostGwPeer + " via 10.80.0.2") && routes.Contains(overlayPeer + " via ")
                    && Nft("list", "tables").Contains("fathom_overlay") && Nft("list", "tables").Contains("fathom_host_gw");
            }, "node0 routes node1's subnets in both modes and has both NAT tables", TimeSpan.FromSeconds(20));
            Assert.Contains("10.245.0.0/16 lookup main", Ip("rule", "show", "pref", "1280"));
            Assert.Contains("10.80.0.2 dev eth0 lladdr", Ip("neigh", "show", "proto", "95"));
            Eventually.True(() => !Ip("neigh", "show", "proto", "95").Contains("10.80.0.77", StringComparison.Ordinal), "the stale pin is gone once both modes reconciled");
            Eventually.True(() => Ingress("eth0").Contains(PodRedirect.ToPodName, StringComparison.Ordinal) && Ingress("eth0").Contains(PodRedirect.FromVxlanName, StringComparison.Ordinal),
                "redirect: bpf put host-gw's to_pod and overlay's from_vxlan on the fabric device");
            var pod = SubnetNetworkTests.WirePod(fabric, 0, modes.Networks[AllocationMode.HostGw]);
            await modes.DisposeAsync();

            Assert.Contains("node0", await LeaseHolders(Path.Combine(store, "overlay"), "10.245.0.0/16"));

            // overlay dropped: its lease, its device (and with it its routes and FDB), its table and its rule go; host-gw's stay.
            modes = SubnetModes.Start(Config("node0", store, hostGw: true, overlay: false, bpf: true), _fx.Restart(), null, _fx.Log, null, ns0)!;
            Assert.Equal(["node1"], await LeaseHolders(Path.Combine(store, "overlay"), "10.245.0.0/16"));
            Assert.DoesNotContain(PodRedirect.FromVxlanName, Ingress("eth0"));
            Assert.Contains(PodRedirect.ToPodName, Ingress("eth0"));
            Assert.False(Ip("link", "show").Contains("fathom.1", StringComparison.Ordinal), Ip("link", "show"));
            Assert.DoesNotContain("fathom_overlay", Nft("list", "tables"));
            Assert.DoesNotContain("10.245.0.0/16", Ip("rule", "show"));
            Assert.Contains("10.244.0.0/16 lookup main", Ip("rule", "show", "pref", "1280"));
            Assert.Contains(hostGwPeer + " via 10.80.0.2", Ip("route", "show", "proto", "95"));
            Assert.Contains("10.80.0.2 dev eth0 lladdr", Ip("neigh", "show", "proto", "95"));
            var retired = Assert.Single(_fx.Events("subnets.retired")).GetProperty("msg").GetString();
            Assert.Contains($"the overlay lease of node0 in the embedded datastore {Path.Combine(store, "overlay")}", retired);
            Assert.Contains("the VXLAN device fathom.1", retired);
            Assert.Contains("the table ip fathom_overlay", retired);
            Assert.Contains("the rule pref 1280 to 10.245.0.0/16", retired);
            Assert.Contains($"the tc program {PodRedirect.FromVxlanName} on eth0", retired);
            Assert.Empty(_fx.Events("subnets.retired-with-pods"));
            await modes.DisposeAsync();

            // No subnet mode left: host-gw's routes, table and rule, and the pinned neighbours go; its pod is named.
            Assert.Null(SubnetModes.Start(null, _fx.Restart(), null, _fx.Log, null, ns0));
            Assert.Equal(["node1"], await LeaseHolders(Path.Combine(store, "host-gw"), "10.244.0.0/16"));
            Assert.Equal("", Ip("route", "show", "proto", "95").Trim());
            Assert.DoesNotContain("fathom_", Nft("list", "tables"));
            Assert.Equal("", Ip("rule", "show", "pref", "1280").Trim());
            Assert.Equal("", Ip("neigh", "show", "proto", "95").Trim());
            Assert.DoesNotContain("fathom_", Ingress("eth0"));
            var pods = Assert.Single(_fx.Events("subnets.retired-with-pods")).GetProperty("msg").GetString();
            Assert.Contains($"1 host-gw pod(s) still hold addresses", pods);
            Assert.Contains($"pod0/eth0 {pod}", pods);
            Assert.True(fabric.Pings(0, "10.80.0.1"), "the pod still reaches its node");

            // Started again the same way: nothing left to remove.
            Assert.Null(SubnetModes.Start(null, _fx.Restart(), null, _fx.Log, null, ns0));
            Assert.Equal(2, _fx.Events("subnets.retired").Count);
        }
        finally
        {
            await modes.DisposeAsync();
        }
    }

    [PrivilegedFact("ip", "nft")]
    public void A_lease_whose_store_cannot_be_reached_is_left_to_expire_and_the_rest_still_goes()
    {
        using var fabric = new TwoNodeFabric("sq");
        using var ns0 = Netns.Open(fabric.Nodes[0].Path);
        var etcd = new HostGwSection
        {
            Datastore = new SubnetDatastoreConfig { Kind = "etcd", ClusterCidr = "10.244.0.0/16", Endpoints = ["http://127.0.0.1:9"] },
        };
        RetiredModes.Retire(new SubnetConfig { NodeName = "node0", FabricDevice = "eth0", HostGw = etcd }, _fx.State, _fx.Log, () => NetlinkHandle.OpenIn(ns0), fabric.Nodes[0].Path);
        Assert.Contains("\"endpoints\": \"http://127.0.0.1:9\"", File.ReadAllText(_fx.Path("subnets", "modes.json")));
        Shell.IpIn(fabric.Nodes[0].Name, "rule", "add", "pref", "1280", "to", "10.244.0.0/16", "lookup", "main");

        var started = System.Diagnostics.Stopwatch.StartNew();
        var removed = RetiredModes.Retire(null, _fx.Restart(), _fx.Log, () => NetlinkHandle.OpenIn(ns0), fabric.Nodes[0].Path);

        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"the start waited {started.Elapsed} for an unreachable store");
        var warning = Assert.Single(_fx.Events("subnets.lease-not-released")).GetProperty("msg").GetString();
        Assert.Contains("could not give up the host-gw lease of node0 in the etcd (http://127.0.0.1:9)", warning);
        Assert.Contains("the other nodes drop their routes to its subnet when it expires", warning);
        Assert.Contains("the rule pref 1280 to 10.244.0.0/16", removed);
        Assert.Equal("", Shell.IpIn(fabric.Nodes[0].Name, "rule", "show", "pref", "1280").Trim());
    }

    private static async Task<List<string>> LeaseHolders(string directory, string cidr)
    {
        await using var store = await Datastore(cidr, directory).ToOptions().OpenAsync();
        return [.. (await store.ListAsync()).Select(l => l.Node.NodeName).Order()];
    }

    private static SubnetConfig Config(string node, string store, bool hostGw, bool overlay, bool bpf = false) => new()
    {
        NodeName = node,
        FabricDevice = "eth0",
        ReconcileSeconds = 0.5,
        HostGw = hostGw ? new HostGwSection { Datastore = Datastore("10.244.0.0/16", Path.Combine(store, "host-gw")), Redirect = bpf ? HostGwSection.RedirectBpf : HostGwSection.RedirectKernel } : null,
        Overlay = overlay ? new OverlaySection { Datastore = Datastore("10.245.0.0/16", Path.Combine(store, "overlay")), Redirect = bpf ? HostGwSection.RedirectBpf : HostGwSection.RedirectKernel } : null,
    };

    private static SubnetDatastoreConfig Datastore(string cidr, string directory) => new() { ClusterCidr = cidr, TtlSeconds = 5, Directory = directory };
}
