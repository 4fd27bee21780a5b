using System.Collections.Concurrent;
using System.Net;
using Fathom.Cloud.Host.Tests.Support;
using Fathom.Netlink;

namespace Fathom.Cloud.Host.Tests;

/// <summary>The provider on the real kernel: veths plugged into a throwaway node netns stand for hot-added NICs.</summary>
public sealed class HostNicProviderTests
{
    private static readonly CreateEniRequest Request = new() { SubnetId = "host", Tags = new Dictionary<string, string> { ["fathom.io/cluster"] = "fc" } };

    private static HostNicConfig Static(params string[] names) => new()
    {
        Names = names,
        Nics = [.. names.Select((n, i) => new HostNicAddressing { Name = n, Address = $"10.77.0.{11 + i}/24" })],
    };

    private static HostNicProvider Provider(HostNicBed bed, HostNicConfig config, NetnsHandle node, ConcurrentQueue<string>? log = null) =>
        new(config, new HostNicOptions
        {
            StatePath = Path.Combine(bed.Dir, "host-nics.json"),
            DhcpDirectory = Path.Combine(bed.Dir, "dhcp"),
            NodeName = "fc-node",
            Netns = node,
            Log = line => log?.Enqueue(line),
        });

    [PrivilegedFact]
    public async Task Create_takes_a_selected_NIC_with_its_configured_address_and_attach_puts_it_in_the_instance()
    {
        Privileged.Require();
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        bed.Plug("eth9", 9); // not selected
        bed.Plug("eth0", 10); // selected by the pattern below, but the node's own: it has an address
        Shell.IpIn(bed.Node.Name, "addr", "add", "10.77.0.200/24", "dev", "eth0");
        using var node = Netns.Open(bed.Node.Path);
        using var provider = Provider(bed, Static("eth1", "eth2"), node);

        var limits = await provider.GetInstanceLimitsAsync(HostNicProvider.InstanceType);
        Assert.Equal((3, 1), (limits.MaxEnis, limits.Ipv4PerEni));
        var eni = await provider.CreateEniAsync(Request);
        Assert.Equal(("nic-027700000001", "10.77.0.11", "10.77.0.0/24", "10.77.0.1"),
            (eni.EniId, eni.PrimaryIp.ToString(), eni.SubnetCidr.ToString(), eni.Gateway.ToString()));
        Assert.Empty(await provider.DescribeEnisAsync(EniQuery.ByInstance("host/fc-node")));

        await provider.AttachEniAsync(eni.EniId, "host/fc-node", 1);
        var attached = Assert.Single(await provider.DescribeEnisAsync(EniQuery.ByInstance("host/fc-node")));
        Assert.Equal((EniAttachmentState.Attached, 1), (attached.AttachmentState, attached.DeviceIndex));
        Assert.Equal(HostNicBed.MacOf(1), NicSelector.Format(Assert.Single(await provider.DescribeLocalMacsAsync())));

        // eth2 is not plugged, eth9 not selected: nothing else to take, said as a limit.
        var none = await Assert.ThrowsAsync<CloudException>(() => provider.CreateEniAsync(Request));
        Assert.Equal(CloudErrorKind.LimitExceeded, none.Kind);
        Assert.Contains("no free NIC on the node matches cloud.host's names (eth1, eth2) (1 held by the pool)", none.Message, StringComparison.Ordinal);

        // A pattern that also matches the node's own uplink never takes it.
        var log = new ConcurrentQueue<string>();
        File.Delete(Path.Combine(bed.Dir, "host-nics.json"));
        using var greedy = Provider(bed, new HostNicConfig
        {
            Pattern = "eth*",
            Nics = [new() { Mac = HostNicBed.MacOf(10), Address = "10.77.0.31/24" }],
        }, node, log);
        Assert.Equal(CloudErrorKind.LimitExceeded, (await Assert.ThrowsAsync<CloudException>(() => greedy.CreateEniAsync(Request))).Kind);
        Assert.Contains(log, l => l.Contains("eth0 (02:77:00:00:00:0a) matches cloud.host's selector but carries the node's own IPv4 address: never taken", StringComparison.Ordinal));
    }

    [PrivilegedFact]
    public async Task A_NIC_plugged_later_is_reported_by_a_link_event_and_can_be_taken()
    {
        Privileged.Require();
        using var bed = HostNicBed.Create();
        using var node = Netns.Open(bed.Node.Path);
        using var provider = Provider(bed, new HostNicConfig { Pattern = "ens*", DefaultAddress = null, Nics = [new() { Mac = HostNicBed.MacOf(4), Address = "10.77.0.44/24", Gateway = "10.77.0.254" }] }, node);
        var changes = 0;
        provider.NicsChanged += () => Interlocked.Increment(ref changes);
        provider.StartWatching();
        await Assert.ThrowsAsync<CloudException>(() => provider.CreateEniAsync(Request));

        bed.Plug("ens4", 4);
        Eventually.True(() => Volatile.Read(ref changes) > 0, "a link event for the plugged NIC");
        var eni = await provider.CreateEniAsync(Request);
        Assert.Equal(("10.77.0.44", "10.77.0.254"), (eni.PrimaryIp.ToString(), eni.Gateway.ToString()));
    }

    [PrivilegedFact]
    public async Task A_NIC_that_vanishes_leaves_the_pool_unless_a_pod_holds_it_and_claims_survive_a_restart()
    {
        Privileged.Require();
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        bed.Plug("eth2", 2);
        using var node = Netns.Open(bed.Node.Path);
        var log = new ConcurrentQueue<string>();
        var held = new HashSet<string>();
        using (var provider = Provider(bed, Static("eth1", "eth2"), node, log))
        {
            provider.HeldElsewhere = held.Contains;
            foreach (var index in new[] { 1, 2 })
                await provider.AttachEniAsync((await provider.CreateEniAsync(Request)).EniId, "host/fc-node", index);
        }

        // A restart: the claims come back from disk. eth1 moves into a pod (held); eth2 is unplugged.
        using var pod = bed.Pod();
        Shell.IpIn(bed.Node.Name, "link", "set", "eth1", "netns", pod.Name);
        bed.Unplug(2);
        using var restarted = Provider(bed, Static("eth1", "eth2"), node, log);
        // Before the agent's state is open, an absent NIC counts as held: nothing is dropped.
        Assert.Equal(2, (await restarted.DescribeEnisAsync(EniQuery.ByInstance("host/fc-node"))).Count);
        held.Add(HostNicProvider.EniIdOf(System.Net.NetworkInformation.PhysicalAddress.Parse("027700000001")));
        restarted.HeldElsewhere = held.Contains;
        var left = Assert.Single(await restarted.DescribeEnisAsync(EniQuery.ByInstance("host/fc-node")));
        Assert.Equal("nic-027700000001", left.EniId);
        Assert.Contains(log, l => l.Contains("nic-027700000002 (eth2, 10.77.0.12) is gone from the node and no pod holds it", StringComparison.Ordinal));
    }

    [PrivilegedFact]
    public async Task Shared_mode_addresses_are_the_configured_secondary_addresses_and_no_more()
    {
        Privileged.Require();
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        using var node = Netns.Open(bed.Node.Path);
        using var provider = Provider(bed, new HostNicConfig
        {
            Names = ["eth1"],
            Nics = [new() { Name = "eth1", Address = "10.77.0.11/24", SecondaryAddresses = ["10.77.0.21", "10.77.0.22"] }],
        }, node);
        Assert.Equal(3, (await provider.GetInstanceLimitsAsync(HostNicProvider.InstanceType)).Ipv4PerEni);
        var eni = await provider.CreateEniAsync(Request);
        Assert.Equal(["10.77.0.21", "10.77.0.22"], (await provider.AssignPrivateIpsAsync(eni.EniId, 5)).Select(a => a.ToString()));
        var full = await Assert.ThrowsAsync<CloudException>(() => provider.AssignPrivateIpsAsync(eni.EniId, 1));
        Assert.Equal(CloudErrorKind.LimitExceeded, full.Kind);
        // The node answers ARP for the handed-out addresses on the NIC, and only for them.
        string Proxies() => Shell.IpIn(bed.Node.Name, "neigh", "show", "proxy");
        Assert.Contains("10.77.0.21 dev eth1", Proxies(), StringComparison.Ordinal);
        Assert.Contains("10.77.0.22 dev eth1", Proxies(), StringComparison.Ordinal);
        await provider.UnassignPrivateIpsAsync(eni.EniId, [IPAddress.Parse("10.77.0.22")]);
        Assert.Equal(["10.77.0.21"], (await provider.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)))[0].SecondaryIps.Select(a => a.ToString()));
        Assert.DoesNotContain("10.77.0.22", Proxies(), StringComparison.Ordinal);

        // Given back, the NIC is free again (it stays on the node), and answers for nothing.
        await provider.DeleteEniAsync(eni.EniId);
        Assert.Empty(await provider.DescribeEnisAsync(new EniQuery()));
        Assert.Equal("", Proxies().Trim());
        Assert.Equal(eni.EniId, (await provider.CreateEniAsync(Request)).EniId);
    }

    [PrivilegedFact("dnsmasq", "dhclient")]
    public async Task A_dhcp_NIC_gets_its_address_from_the_server_and_the_node_is_left_unconfigured()
    {
        Privileged.Require("dnsmasq", "dhclient");
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        bed.ServeDhcp((1, "10.77.0.61"));
        using var node = Netns.Open(bed.Node.Path);
        using var provider = Provider(bed, new HostNicConfig { Macs = [HostNicBed.MacOf(1)], DefaultAddress = "dhcp", DhcpTimeoutSeconds = 15 }, node);

        var eni = await provider.CreateEniAsync(Request);
        Assert.Equal(("10.77.0.61", "10.77.0.0/24", HostNicBed.Gateway), (eni.PrimaryIp.ToString(), eni.SubnetCidr.ToString(), eni.Gateway.ToString()));
        // The lease is the pod's: the node's NIC has no address, no route, and no dhclient is left running.
        Assert.DoesNotContain("10.77.0.61", Shell.IpIn(bed.Node.Name, "-4", "addr", "show", "dev", "eth1"), StringComparison.Ordinal);
        Assert.Equal("", Shell.IpIn(bed.Node.Name, "-4", "route", "show").Trim());
        Assert.DoesNotContain(Shell.Run("ip", ["netns", "pids", bed.Node.Name]).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            pid => File.Exists($"/proc/{pid}/comm") && File.ReadAllText($"/proc/{pid}/comm").Trim() == "dhclient");
    }

    [PrivilegedFact("dhclient")]
    public async Task A_dhcp_NIC_without_a_server_fails_in_time_and_stays_free()
    {
        Privileged.Require("dhclient");
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        using var node = Netns.Open(bed.Node.Path);
        using var provider = Provider(bed, new HostNicConfig { Names = ["eth1"], DefaultAddress = "dhcp", DhcpTimeoutSeconds = 2 }, node);

        var e = await Assert.ThrowsAsync<CloudException>(() => provider.CreateEniAsync(Request));
        Assert.Equal((CloudErrorKind.Transient, "HostNicDhcpTimeout"), (e.Kind, e.Code));
        Assert.Contains("no DHCP lease for eth1 within 2 s", e.Message, StringComparison.Ordinal);
        Assert.Empty(await provider.DescribeEnisAsync(new EniQuery()));
    }
}
