using System.Net;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Tests;

/// <summary>
/// The node↔pod veth on the real kernel: a "node" netns (with an address of its own) and a
/// "pod" netns, fresh per test; traffic checked with ping both ways.
/// </summary>
public sealed class NodeVethTests
{
    private static readonly IPAddress PodIp = IPAddress.Parse("10.66.0.7");

    /// <summary>The managed SHA-256 behind the veth names is SHA-256: the names stay what every release named them.</summary>
    [Fact]
    public void TheVethNamesHashIsSha256()
    {
        var random = new Random(9);
        for (var length = 0; length < 200; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            var digest = new byte[32];
            NodeVeth.Sha256(data, digest);
            Assert.Equal(System.Security.Cryptography.SHA256.HashData(data), digest);
        }
        Assert.Equal("fth" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("abc/eth0"u8))[..11], NodeVeth.HostNameFor("abc", "eth0"));
    }

    private sealed class Bed : IDisposable
    {
        public TestNetns Node { get; } = TestNetns.Create("nv");
        public TestNetns Pod { get; } = TestNetns.Create("nv");
        public NetnsHandle PodNs { get; }
        public NetlinkHandle Host { get; }
        public NetlinkHandle PodLinks { get; }

        public Bed()
        {
            // The node's own address, on a veth end of its own (this kernel has no dummy links).
            Shell.IpIn(Node.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
            Shell.IpIn(Node.Name, "addr", "add", "10.66.1.10/24", "dev", "eth0");
            Shell.IpIn(Node.Name, "link", "set", "eth0", "up");
            using var node = Netns.Open(Node.Path);
            Host = NetlinkHandle.OpenIn(node);
            PodNs = Netns.Open(Pod.Path);
            PodLinks = NetlinkHandle.OpenIn(PodNs);
        }

        public void Dispose()
        {
            PodLinks.Dispose();
            PodNs.Dispose();
            Host.Dispose();
            Pod.Dispose();
            Node.Dispose();
        }
    }

    private static NodeVethSpec Spec(params string[] viaNode) =>
        new(NodeVeth.HostNameFor("ctr-1", "eth0"), "eth0", PodIp, [.. viaNode.Select(IpPrefix.Parse)]);

    [Fact]
    public void The_node_ends_name_is_stable_short_and_distinct()
    {
        var name = NodeVeth.HostNameFor("ctr-1", "eth0");
        Assert.Equal(name, NodeVeth.HostNameFor("ctr-1", "eth0"));
        Assert.True(name.Length <= 15 && name.StartsWith("fth", StringComparison.Ordinal), name);
        Assert.NotEqual(name, NodeVeth.HostNameFor("ctr-1", "net1"));
        Assert.NotEqual(name, NodeVeth.HostNameFor("ctr-2", "eth0"));
    }

    [Fact]
    public void The_pod_ends_MAC_is_a_stable_locally_administered_unicast_address_per_pair()
    {
        var mac = NodeVeth.PodMacFor("fth0123456789a").GetAddressBytes();
        Assert.Equal(6, mac.Length);
        Assert.Equal(0x02, mac[0]); // locally administered, not multicast
        Assert.Equal(mac, NodeVeth.PodMacFor("fth0123456789a").GetAddressBytes());
        Assert.NotEqual(mac, NodeVeth.PodMacFor("fth0123456789b").GetAddressBytes());
    }

    [PrivilegedFact("ip", "ping")]
    public void Node_and_pod_reach_each_other_and_CHECK_names_what_drifted()
    {
        using var bed = new Bed();
        var spec = Spec("0.0.0.0/0");
        var inPod = NodeVeth.Create(bed.Host, bed.PodNs, bed.PodLinks, spec).Pod;
        Assert.Equal("eth0", inPod.Name);
        Assert.True(inPod.IsUp);
        // The returned end is the one the kernel holds, and up there (not only as reported).
        var live = bed.PodLinks.GetLink("eth0");
        Assert.Equal((inPod.Index, inPod.Mac, inPod.Mtu, true), (live.Index, live.Mac, live.Mtu, live.IsUp));

        Assert.Equal(0, Shell.Exec(bed.Node.Name, "ping", "-c1", "-W2", PodIp.ToString()).ExitCode);
        Assert.Equal(0, Shell.Exec(bed.Pod.Name, "ping", "-c1", "-W2", "10.66.1.10").ExitCode);
        Assert.Contains($"default via {NodeVeth.Gateway} dev eth0 onlink", Shell.IpIn(bed.Pod.Name, "route", "show"));
        Assert.Contains("PERMANENT", Shell.IpIn(bed.Pod.Name, "neigh", "show", NodeVeth.Gateway.ToString()));
        Assert.Contains("PERMANENT", Shell.IpIn(bed.Node.Name, "neigh", "show", PodIp.ToString(), "dev", spec.HostName));
        Assert.True(bed.PodLinks.GetGro("eth0"), "GRO on the pod's end");
        Assert.True(bed.Host.GetGro(spec.HostName), "GRO on the node's end");
        NodeVeth.Verify(bed.Host, bed.PodLinks, spec);

        Shell.IpIn(bed.Node.Name, "route", "del", $"{PodIp}/32");
        var drift = Assert.Throws<CniException>(() => NodeVeth.Verify(bed.Host, bed.PodLinks, spec));
        Assert.Equal(CniErrorCode.CheckFailed, drift.Code);
        Assert.Contains($"{PodIp}/32 dev {spec.HostName}", drift.Message);

        Assert.True(NodeVeth.TryDelete(bed.Host, spec.HostName));
        Assert.False(NodeVeth.TryDelete(bed.Host, spec.HostName)); // idempotent
        Assert.DoesNotContain("eth0", Shell.IpIn(bed.Pod.Name, "-o", "link", "show"));
    }

    [PrivilegedFact("ip")]
    public void Only_the_listed_destinations_go_through_the_node()
    {
        using var bed = new Bed();
        NodeVeth.Create(bed.Host, bed.PodNs, bed.PodLinks, Spec("10.66.1.10/32"));
        var routes = Shell.IpIn(bed.Pod.Name, "route", "show");
        Assert.Contains($"10.66.1.10 via {NodeVeth.Gateway} dev eth0 onlink", routes);
        Assert.DoesNotContain("default", routes);
    }

    [PrivilegedFact("ip")]
    public void An_ifname_taken_in_the_pod_is_103_and_nothing_is_left_on_the_node()
    {
        using var bed = new Bed();
        Shell.IpIn(bed.Pod.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "other");
        var e = Assert.Throws<CniException>(() => NodeVeth.Create(bed.Host, bed.PodNs, bed.PodLinks, Spec("0.0.0.0/0")));
        Assert.Equal(DatapathErrorCodes.IfNameExists, e.Code);
        Assert.DoesNotContain("fth", Shell.IpIn(bed.Node.Name, "-o", "link", "show"));
    }

    [PrivilegedFact("ip")]
    public void A_pair_made_early_is_wired_like_one_made_at_once()
    {
        using var bed = new Bed();
        var spec = Spec("0.0.0.0/0");
        var node = NodeVeth.TryCreateEarly(bed.Host, bed.PodNs, spec.HostName, spec.PodIfName);
        Assert.NotNull(node);
        // A second one under the same name is refused: null, nothing thrown, the first untouched.
        Assert.Null(NodeVeth.TryCreateEarly(bed.Host, bed.PodNs, spec.HostName, "eth1"));

        var (onNode, inPod) = NodeVeth.TryWireEarly(bed.Host, bed.PodLinks, node, spec)!.Value;
        Assert.Equal(node.Index, onNode.Index);
        // The pod's end as the kernel holds it, though it was never read back: index, MAC, up.
        var kernel = bed.PodLinks.GetLink("eth0");
        Assert.Equal((kernel.Index, kernel.Mac, kernel.Mtu, true), (inPod.Index, inPod.Mac, inPod.Mtu, kernel.IsUp));
        Assert.Equal(NodeVeth.PodMacFor(spec.HostName), kernel.Mac);
        NodeVeth.Verify(bed.Host, bed.PodLinks, spec);
        // Every route through the gateway is onlink, so there is none to the gateway itself.
        var routes = Shell.IpIn(bed.Pod.Name, "route", "show").Trim();
        Assert.Equal($"default via {NodeVeth.Gateway} dev eth0 onlink", routes);
    }

    [PrivilegedFact("ip")]
    public void A_pair_made_early_and_deleted_meanwhile_is_reported_gone()
    {
        using var bed = new Bed();
        var spec = Spec("0.0.0.0/0");
        var node = NodeVeth.TryCreateEarly(bed.Host, bed.PodNs, spec.HostName, spec.PodIfName)!;
        Shell.IpIn(bed.Node.Name, "link", "del", spec.HostName); // an earlier pod's teardown of that name
        Assert.Null(NodeVeth.TryWireEarly(bed.Host, bed.PodLinks, node, spec));
        Assert.DoesNotContain("fth", Shell.IpIn(bed.Node.Name, "-o", "link", "show"));
    }

    [PrivilegedFact("ip")]
    public void A_pair_made_early_takes_the_mtu_the_reply_names()
    {
        using var bed = new Bed();
        var spec = Spec("0.0.0.0/0") with { Mtu = 1450 };
        var node = NodeVeth.TryCreateEarly(bed.Host, bed.PodNs, spec.HostName, spec.PodIfName)!;
        Assert.NotEqual(1450, node.Mtu);
        var (onNode, inPod) = NodeVeth.CreateOrWireEarly(bed.Host, bed.PodNs, bed.PodLinks, node, spec);
        Assert.Equal((1450, 1450), (onNode.Mtu, inPod.Mtu));
        Assert.Equal((1450, 1450), (bed.Host.GetLink(spec.HostName).Mtu, bed.PodLinks.GetLink("eth0").Mtu));
    }

    [PrivilegedFact("ip")]
    public void A_pair_made_early_under_another_name_is_replaced()
    {
        using var bed = new Bed();
        var spec = Spec("0.0.0.0/0");
        var other = NodeVeth.TryCreateEarly(bed.Host, bed.PodNs, NodeVeth.HostNameFor("ctr-other", "eth0"), spec.PodIfName)!;
        var (onNode, _) = NodeVeth.CreateOrWireEarly(bed.Host, bed.PodNs, bed.PodLinks, other, spec);
        Assert.Equal(spec.HostName, onNode.Name);
        var links = Shell.IpIn(bed.Node.Name, "-o", "link", "show");
        Assert.Contains(spec.HostName, links);
        Assert.DoesNotContain(other.Name, links);
        NodeVeth.Verify(bed.Host, bed.PodLinks, spec);
    }

    [PrivilegedFact("ip")]
    public void A_failure_while_wiring_deletes_the_pair()
    {
        using var bed = new Bed();
        // The pod already has a default route elsewhere: adding its own fails (EEXIST) after the
        // pair exists, and the pair must go again.
        Shell.IpIn(bed.Pod.Name, "link", "add", "x0", "type", "veth", "peer", "name", "x1");
        Shell.IpIn(bed.Pod.Name, "link", "set", "x0", "up");
        Shell.IpIn(bed.Pod.Name, "route", "add", "default", "dev", "x0");
        var e = Assert.Throws<CniException>(() => NodeVeth.Create(bed.Host, bed.PodNs, bed.PodLinks, Spec("0.0.0.0/0")));
        Assert.Equal(CniErrorCode.DatapathFailure, e.Code);
        Assert.Contains($"add route 0.0.0.0/0 via {NodeVeth.Gateway}", e.Message);
        Assert.DoesNotContain("fth", Shell.IpIn(bed.Node.Name, "-o", "link", "show"));
        Assert.DoesNotContain("eth0", Shell.IpIn(bed.Pod.Name, "-o", "link", "show"));
    }
}
