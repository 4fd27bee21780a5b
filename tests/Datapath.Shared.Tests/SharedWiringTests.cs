using System.Net;
using System.Text.Json;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Shared.Tests;

/// <summary>
/// Shared-mode wiring on the real kernel, in a small VPC of three fresh namespaces: "vpc" (the
/// router, with strict reverse-path filtering: like the VPC, it drops a packet whose source IP
/// the sending link does not own), "node" (primary interface eth0, an ENI eth1) and "pod". The
/// pod's IP is a secondary IP of eth1, so its traffic must leave by eth1 to come back at all.
/// </summary>
public sealed class SharedWiringTests
{
    private const int Table = 101;
    private static readonly IPAddress PodIp = IPAddress.Parse("10.71.0.50");
    private static readonly IPAddress Gateway = IPAddress.Parse("10.71.0.1");

    private sealed class Vpc : IDisposable
    {
        public TestNetns Router { get; } = TestNetns.Create("sw");
        public TestNetns Node { get; } = TestNetns.Create("sw");
        public TestNetns Pod { get; } = TestNetns.Create("sw");
        public NetnsHandle NodeNs { get; }
        public NetnsHandle PodNs { get; }
        public NetlinkHandle Host { get; }
        public NetlinkHandle PodLinks { get; }

        public Vpc()
        {
            string r = Router.Name, n = Node.Name;
            Shell.IpIn(r, "link", "add", "v0", "type", "veth", "peer", "name", "eth0", "netns", n);
            Shell.IpIn(r, "link", "add", "v1", "type", "veth", "peer", "name", "eth1", "netns", n);
            Shell.IpIn(r, "addr", "add", "10.70.0.1/24", "dev", "v0");
            Shell.IpIn(r, "addr", "add", "10.71.0.1/24", "dev", "v1");
            Shell.IpIn(r, "addr", "add", "10.72.0.9/32", "dev", "lo"); // somewhere beyond the gateway
            foreach (var dev in (string[])["v0", "v1"]) Shell.IpIn(r, "link", "set", dev, "up");
            Shell.Exec(r, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1", "net.ipv4.conf.v0.rp_filter=1", "net.ipv4.conf.v1.rp_filter=1");
            // The VPC knows which ENI holds the secondary IP (no ARP for it between nodes).
            var eniMac = JsonDocument.Parse(Shell.IpIn(n, "-j", "link", "show", "eth1")).RootElement[0].GetProperty("address").GetString()!;
            Shell.IpIn(r, "neigh", "replace", PodIp.ToString(), "lladdr", eniMac, "dev", "v1", "nud", "permanent");

            Shell.IpIn(n, "addr", "add", "10.70.0.10/24", "dev", "eth0");
            Shell.IpIn(n, "addr", "add", "10.71.0.20/24", "dev", "eth1");
            foreach (var dev in (string[])["eth0", "eth1"]) Shell.IpIn(n, "link", "set", dev, "up");
            Shell.IpIn(n, "route", "add", "default", "via", "10.70.0.1");
            Shell.Exec(n, "sysctl", "-qw", "net.ipv4.ip_forward=1");

            NodeNs = Netns.Open(Node.Path);
            Host = NetlinkHandle.OpenIn(NodeNs);
            PodNs = Netns.Open(Pod.Path);
            PodLinks = NetlinkHandle.OpenIn(PodNs);
        }

        public int EniIndex => Host.GetLink("eth1").Index;

        public void Dispose()
        {
            PodLinks.Dispose();
            PodNs.Dispose();
            Host.Dispose();
            NodeNs.Dispose();
            Pod.Dispose();
            Node.Dispose();
            Router.Dispose();
        }
    }

    private static SharedPod Pod() => new(PodIp, NodeVeth.HostNameFor("ctr-s", "eth0"), "eth0", Table);

    [PrivilegedFact("ip", "ping", "sysctl")]
    public void The_pods_traffic_leaves_by_the_ENI_that_owns_its_IP_and_comes_back()
    {
        using var vpc = new Vpc();
        EniRouting.Install(vpc.Host, vpc.NodeNs, vpc.EniIndex, "eth1", Table, Gateway);
        var pod = Pod();
        SharedWiring.Add(vpc.Host, vpc.PodNs, vpc.PodLinks, pod);

        Assert.Equal(0, Shell.Exec(vpc.Pod.Name, "ping", "-c1", "-W2", "10.72.0.9").ExitCode);
        Assert.Equal(0, Shell.Exec(vpc.Node.Name, "ping", "-c1", "-W2", PodIp.ToString()).ExitCode); // kubelet probes
        var rules = Shell.IpIn(vpc.Node.Name, "rule", "show");
        Assert.Contains($"{SharedWiring.ToPodPriority}:\tfrom all to {PodIp} lookup main", rules);
        Assert.Contains($"{SharedWiring.FromPodPriority}:\tfrom {PodIp} lookup {Table}", rules);
        SharedWiring.Verify(vpc.Host, vpc.PodLinks, pod);

        // Without the rule the pod's packets leave by eth0, whose link does not own the pod's IP: dropped.
        Shell.IpIn(vpc.Node.Name, "rule", "del", "pref", SharedWiring.FromPodPriority.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.NotEqual(0, Shell.Exec(vpc.Pod.Name, "ping", "-c1", "-W1", "10.72.0.9").ExitCode);
        var drift = Assert.Throws<CniException>(() => SharedWiring.Verify(vpc.Host, vpc.PodLinks, pod));
        Assert.Contains($"from {PodIp}/32 lookup {Table}", drift.Message);
    }

    /// <summary>
    /// A reply from a host-gw or overlay pod to a shared pod (docs/modes.md, "Across modes") comes back
    /// through the VPC, on the ENI that owns the pod's IP, while the node's main table routes the pod
    /// CIDR by eth0. The kernel's reverse-path check drops it on an ENI with no IPv4 address, loose or
    /// not; with the ENI's primary IP on it (a /32, no route) the loose check lets it in.
    /// </summary>
    [PrivilegedFact("ip", "ping", "sysctl")]
    public void A_reply_from_a_pod_cidr_routed_by_eth0_comes_in_by_the_ENI_once_it_has_its_address()
    {
        using var vpc = new Vpc();
        string node = vpc.Node.Name, router = vpc.Router.Name;
        Shell.IpIn(node, "addr", "flush", "dev", "eth1");  // an ENI as it is attached: no address of its own
        EniRouting.Install(vpc.Host, vpc.NodeNs, vpc.EniIndex, "eth1", Table, Gateway, IPAddress.Parse("10.71.0.20"));
        EniRouting.Install(vpc.Host, vpc.NodeNs, vpc.EniIndex, "eth1", Table, Gateway, IPAddress.Parse("10.71.0.20")); // idempotent
        SharedWiring.Add(vpc.Host, vpc.PodNs, vpc.PodLinks, Pod());
        Assert.Contains("inet 10.71.0.20/32", Shell.IpIn(node, "addr", "show", "dev", "eth1"));
        Assert.DoesNotContain("dev eth1", Shell.IpIn(node, "route", "show"));

        // The cluster's pod CIDR, which the node routes by eth0; a pod of it behind the VPC's router.
        Shell.IpIn(node, "route", "add", "10.244.0.0/16", "via", "10.70.0.1");
        Shell.IpIn(router, "addr", "add", "10.244.0.5/32", "dev", "lo");
        Assert.Equal(0, Shell.Exec(router, "ping", "-c1", "-W2", "-I", "10.244.0.5", PodIp.ToString()).ExitCode);

        Shell.IpIn(node, "addr", "flush", "dev", "eth1");
        Assert.NotEqual(0, Shell.Exec(router, "ping", "-c1", "-W1", "-I", "10.244.0.5", PodIp.ToString()).ExitCode);
    }

    [PrivilegedFact("ip", "sysctl")]
    public void Remove_takes_the_rules_and_the_veth_and_is_idempotent()
    {
        using var vpc = new Vpc();
        EniRouting.Install(vpc.Host, vpc.NodeNs, vpc.EniIndex, "eth1", Table, Gateway);
        var pod = Pod();
        SharedWiring.Add(vpc.Host, vpc.PodNs, vpc.PodLinks, pod);
        SharedWiring.Remove(vpc.Host, pod);
        SharedWiring.Remove(vpc.Host, pod);

        Assert.DoesNotContain(PodIp.ToString(), Shell.IpIn(vpc.Node.Name, "rule", "show"));
        Assert.DoesNotContain(pod.HostVeth, Shell.IpIn(vpc.Node.Name, "-o", "link", "show"));
        Assert.DoesNotContain("eth0", Shell.IpIn(vpc.Pod.Name, "-o", "link", "show"));
        Assert.Equal(2, EniRouting.Routes(vpc.Host, Table).Count); // the ENI's table stays for its other pods
    }

    [PrivilegedFact("ip", "sysctl")]
    public void The_ENI_table_routes_everything_through_the_gateway_and_goes_with_the_ENI()
    {
        using var vpc = new Vpc();
        EniRouting.Install(vpc.Host, vpc.NodeNs, vpc.EniIndex, "eth1", Table, Gateway);
        EniRouting.Install(vpc.Host, vpc.NodeNs, vpc.EniIndex, "eth1", Table, Gateway); // idempotent
        var table = Shell.IpIn(vpc.Node.Name, "route", "show", "table", Table.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains($"default via {Gateway} dev eth1", table);
        Assert.Contains($"{Gateway} dev eth1 scope link", table);
        Assert.Equal("2", Shell.Exec(vpc.Node.Name, "sysctl", "-n", "net.ipv4.conf.eth1.rp_filter").Stdout.Trim());
        EniRouting.Remove(vpc.Host, Table);
        Assert.Empty(EniRouting.Routes(vpc.Host, Table));
    }

    [PrivilegedFact("ip", "sysctl")]
    public void A_failed_ADD_leaves_nothing_behind()
    {
        using var vpc = new Vpc();
        Shell.IpIn(vpc.Pod.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "mine");
        var e = Assert.Throws<CniException>(() => SharedWiring.Add(vpc.Host, vpc.PodNs, vpc.PodLinks, Pod()));
        Assert.Equal(103, (int)e.Code);
        Assert.DoesNotContain(PodIp.ToString(), Shell.IpIn(vpc.Node.Name, "rule", "show"));
        Assert.DoesNotContain("fth", Shell.IpIn(vpc.Node.Name, "-o", "link", "show"));
    }
}
