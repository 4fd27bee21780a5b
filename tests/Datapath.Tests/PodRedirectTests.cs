using System.Buffers.Binary;
using System.Net;
using Fathom.Netlink;

namespace Fathom.Datapath.Tests;

/// <summary>
/// The tc BPF pod path on the real kernel: two nodes on a fabric, a <see cref="NodeVeth"/> pod on
/// each, host-gw's routes made with iproute2, and <see cref="PodRedirect"/>'s programs attached.
/// Pods reach each other without the nodes forwarding a packet (IpForwDatagrams stays 0), and the
/// node↔pod paths kubelet's probes use still work.
/// </summary>
public sealed class PodRedirectTests
{
    private static readonly IpPrefix Cluster = IpPrefix.Parse("10.250.0.0/16");

    [PrivilegedFact("ip", "tc", "ping", "nstat")]
    public void Pods_reach_each_other_past_the_nodes_stack_and_nodes_still_reach_pods()
    {
        Privileged.Require("ip", "tc", "ping", "nstat");
        using var fabric = new TwoNodeFabric("pr");
        for (var i = 0; i < 2; i++)
        {
            using var nodeNs = Netns.Open(fabric.Nodes[i].Path);
            using var host = NetlinkHandle.OpenIn(nodeNs);
            using var podNs = Netns.Open(fabric.Pods[i].Path);
            using var pod = NetlinkHandle.OpenIn(podNs);
            var veth = NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fpr{i}", "eth0", IPAddress.Parse($"10.250.{i + 1}.5"), [IpPrefix.Parse("0.0.0.0/0")]));
            Shell.IpIn(fabric.Nodes[i].Name, "route", "add", $"10.250.{2 - i}.0/24", "via", TwoNodeFabric.NodeIps[1 - i]);
            PodRedirect.AttachUplink(host, host.GetLink("eth0").Index, IpPrefix.Parse($"10.250.{i + 1}.0/24"));
            PodRedirect.AttachPod(host, host.GetLink($"fpr{i}").Index, Cluster);
            Assert.True(PodRedirect.IsAttached(host, host.GetLink("eth0").Index, PodRedirect.ToPodName));
            Assert.True(PodRedirect.IsAttached(host, host.GetLink($"fpr{i}").Index, PodRedirect.FromPodName));
            Assert.False(PodRedirect.IsAttached(host, host.GetLink("eth0").Index, PodRedirect.FromPodName));
            Assert.Equal(pod.GetLink("eth0").Index, veth.Pod.Index);
        }

        Assert.True(fabric.Pings(0, "10.250.2.5"));
        Assert.True(fabric.Pings(1, "10.250.1.5"));
        Assert.Equal(0, Forwarded(fabric.Nodes[0].Name) + Forwarded(fabric.Nodes[1].Name)); // the BPF path, not ip_forward

        // A second pod on node 1: pod ↔ pod on one node goes veth to veth (from_pod → bpf_redirect to the other pod's veth).
        using var local = TestNetns.Create("pr");
        using (var nodeNs = Netns.Open(fabric.Nodes[0].Path))
        using (var host = NetlinkHandle.OpenIn(nodeNs))
        using (var podNs = Netns.Open(local.Path))
        using (var pod = NetlinkHandle.OpenIn(podNs))
        {
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec("fprl", "eth0", IPAddress.Parse("10.250.1.6"), [IpPrefix.Parse("0.0.0.0/0")]));
            PodRedirect.AttachPod(host, host.GetLink("fprl").Index, Cluster);
        }
        Assert.True(fabric.Pings(0, "10.250.1.6"));
        Assert.Equal(0, Shell.Exec(local.Name, "ping", "-c1", "-W2", "10.250.2.5").ExitCode);
        Assert.Equal(0, Forwarded(fabric.Nodes[0].Name) + Forwarded(fabric.Nodes[1].Name));
        // Node ↔ pod, as kubelet's probes go: the node's own address is not the cluster's, so from_pod leaves it to the kernel.
        Assert.Equal(0, Shell.Exec(fabric.Nodes[0].Name, "ping", "-c1", "-W2", "10.250.1.5").ExitCode);
        Assert.True(fabric.Pings(0, TwoNodeFabric.NodeIps[0]));
        Assert.True(fabric.Pings(0, TwoNodeFabric.NodeIps[1])); // another node: the kernel forwards it
        Assert.Equal(0, Shell.Exec(fabric.Nodes[1].Name, "ping", "-c1", "-W2", "10.250.1.5").ExitCode); // a remote node to a pod: to_pod

        // Detached, the kernel forwards again and the pods still reach each other.
        using (var nodeNs = Netns.Open(fabric.Nodes[0].Path))
        using (var host = NetlinkHandle.OpenIn(nodeNs))
        {
            Assert.True(PodRedirect.Detach(host, host.GetLink("eth0").Index));
            Assert.True(PodRedirect.Detach(host, host.GetLink("fpr0").Index));
            Assert.False(PodRedirect.Detach(host, host.GetLink("fpr0").Index));
            Assert.False(PodRedirect.IsAttached(host, host.GetLink("eth0").Index, PodRedirect.ToPodName));
        }
        var before = Forwarded(fabric.Nodes[0].Name);
        Assert.True(fabric.Pings(0, "10.250.2.5"));
        Assert.True(Forwarded(fabric.Nodes[0].Name) >= before + 2); // out and back through node 1's ip_forward
    }

    /// <summary>
    /// Overlay with the programs doing VXLAN themselves: the pods reach each other with no packet through
    /// either node's VXLAN device or UDP socket (UdpInDatagrams and the device's counters stay 0), full-size
    /// packets too; a peer whose VTEP MAC is not of Fathom's scheme is still reached, through the device,
    /// and what that device wraps the peer's program unwraps.
    /// </summary>
    [PrivilegedFact("ip", "bridge", "tc", "ping", "nstat")]
    public void Overlay_pods_reach_each_other_wrapped_by_the_programs_not_the_vxlan_device()
    {
        Privileged.Require("ip", "bridge", "tc", "ping", "nstat");
        using var fabric = new TwoNodeFabric("pv");
        var cluster = IpPrefix.Parse("10.251.0.0/16");
        for (var i = 0; i < 2; i++)
        {
            var (node, other) = (fabric.Nodes[i].Name, 1 - i);
            var otherMac = InterfaceMac(PodRedirect.VtepMac(IPAddress.Parse(TwoNodeFabric.NodeIps[other])));
            Shell.IpIn(node, "link", "add", "fathom.1", "address", InterfaceMac(PodRedirect.VtepMac(IPAddress.Parse(TwoNodeFabric.NodeIps[i]))),
                "type", "vxlan", "id", "7", "local", TwoNodeFabric.NodeIps[i], "dev", "eth0", "dstport", "4789", "nolearning");
            Shell.IpIn(node, "link", "set", "fathom.1", "mtu", "1450", "up");
            Shell.IpIn(node, "addr", "add", $"10.251.{i + 1}.0/32", "dev", "fathom.1");
            Shell.IpIn(node, "neigh", "replace", $"10.251.{other + 1}.0", "lladdr", otherMac, "dev", "fathom.1", "nud", "permanent");
            Shell.Run("bridge", ["-n", node, "fdb", "replace", otherMac, "dev", "fathom.1", "dst", TwoNodeFabric.NodeIps[other], "self", "permanent"]).EnsureSuccess("bridge fdb");
            Shell.IpIn(node, "route", "add", $"10.251.{other + 1}.0/24", "via", $"10.251.{other + 1}.0", "dev", "fathom.1", "onlink");

            using var nodeNs = Netns.Open(fabric.Nodes[i].Path);
            using var host = NetlinkHandle.OpenIn(nodeNs);
            using var podNs = Netns.Open(fabric.Pods[i].Path);
            using var pod = NetlinkHandle.OpenIn(podNs);
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fpv{i}", "eth0", IPAddress.Parse($"10.251.{i + 1}.5"), [IpPrefix.Parse("0.0.0.0/0")], 1450));
            var vxlan = new VxlanEncap(host.GetLink("fathom.1").Index, IPAddress.Parse(TwoNodeFabric.NodeIps[i]), 4789, 7);
            var subnet = IpPrefix.Parse($"10.251.{i + 1}.0/24");
            PodRedirect.AttachUplink(host, vxlan.VtepIndex, subnet);
            PodRedirect.AttachFabric(host, host.GetLink("eth0").Index, subnet, vxlan);
            PodRedirect.AttachPod(host, host.GetLink($"fpv{i}").Index, cluster, vxlan);
            Assert.True(PodRedirect.IsAttached(host, host.GetLink("eth0").Index, PodRedirect.FromVxlanName));
            Assert.False(PodRedirect.IsAttached(host, host.GetLink("eth0").Index, PodRedirect.ToPodName));
        }

        // The nodes know each other's MAC first (the agent pins them): until then a packet takes the VXLAN device, which resolves it.
        Assert.Equal(0, Shell.Exec(fabric.Nodes[0].Name, "ping", "-c1", "-W2", TwoNodeFabric.NodeIps[1]).ExitCode);
        long Kernel(int i) => Counter(fabric.Nodes[i].Name, "UdpInDatagrams") + Counter(fabric.Nodes[i].Name, "IpForwDatagrams") + VxlanPackets(fabric.Nodes[i].Name);
        var before = new[] { Kernel(0), Kernel(1) };
        Assert.True(fabric.Pings(0, "10.251.2.5"));
        Assert.Equal(0, Shell.Exec(fabric.Pods[1].Name, "ping", "-c3", "-i0.2", "-s1400", "-W2", "10.251.1.5").ExitCode); // full-size, not GSO
        Assert.Equal(before, new[] { Kernel(0), Kernel(1) });

        // Node 0's VTEP in another MAC scheme (an older Fathom's): node 1 cannot wrap for it, its VXLAN device does.
        const string Other = "02:aa:bb:cc:dd:01";
        Shell.IpIn(fabric.Nodes[0].Name, "link", "set", "fathom.1", "address", Other);
        // A new address flushes the device's neighbours, permanent ones too (neigh_changeaddr): node 1's VTEP again.
        Shell.IpIn(fabric.Nodes[0].Name, "neigh", "replace", "10.251.2.0", "lladdr", InterfaceMac(PodRedirect.VtepMac(IPAddress.Parse(TwoNodeFabric.NodeIps[1]))),
            "dev", "fathom.1", "nud", "permanent");
        Shell.IpIn(fabric.Nodes[1].Name, "neigh", "replace", "10.251.1.0", "lladdr", Other, "dev", "fathom.1", "nud", "permanent");
        Shell.Run("bridge", ["-n", fabric.Nodes[1].Name, "fdb", "replace", Other, "dev", "fathom.1", "dst", TwoNodeFabric.NodeIps[0], "self", "permanent"]).EnsureSuccess("bridge fdb");
        Assert.True(fabric.Pings(1, "10.251.1.5"));
        Assert.True(VxlanPackets(fabric.Nodes[1].Name) > 0);
        // What node 1's device wrapped, node 0's from_vxlan unwrapped: the same bytes on the wire either way.
        Assert.Equal(before[0], Kernel(0));
    }

    [Fact]
    public void The_overlay_markers_take_the_vteps_index_address_port_and_vni_as_the_packet_holds_them()
    {
        Assert.Equal("0EFA0A500005", PodRedirect.VtepMac(IPAddress.Parse("10.80.0.5")).ToString()); // 0e:fa:10.80.0.5
        Assert.Throws<ArgumentException>(() => PodRedirect.VtepMac(IPAddress.Parse("fd00::1")));

        var vxlan = new VxlanEncap(42, IPAddress.Parse("10.80.0.5"), 4789, 7);
        var immediates = Immediates(PodRedirect.FromPodFor(Cluster, vxlan));
        Assert.Contains(42u, immediates);
        Assert.Contains(0x0500500au, immediates); // 10.80.0.5: 0a 50 00 05 read little-endian
        Assert.Contains(0xb512u, immediates); // port 4789 = 0x12b5 on the wire
        Assert.Contains(0x00070000u, immediates); // VNI 7 << 8 on the wire: 00 00 07 00
        foreach (var marker in new[] { PodRedirect.VtepMarker, PodRedirect.NodeIpMarker, PodRedirect.PortMarker, PodRedirect.VniMarker })
            Assert.DoesNotContain(marker, immediates);
        // No overlay: the VTEP's index is 0, which no route leads to, so nothing is wrapped.
        Assert.DoesNotContain(PodRedirect.VtepMarker, Immediates(PodRedirect.FromPodFor(Cluster, null)));
    }

    [Fact]
    public void The_prefix_is_written_over_the_markers_in_the_order_the_packet_holds_it()
    {
        var program = PodRedirect.Instantiate(PodRedirectProgram.ToPod, IpPrefix.Parse("10.243.1.7/24"), PodRedirect.LocalNetMarker, PodRedirect.LocalMaskMarker);
        var immediates = Enumerable.Range(0, program.Length / 8).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(program.AsSpan(i * 8 + 4))).ToList();
        Assert.Contains(0x0001f30au, immediates); // 10.243.1.0 as the packet's bytes 0a f3 01 00, loaded little-endian
        Assert.Contains(0x00ffffffu, immediates); // 255.255.255.0
        Assert.DoesNotContain(PodRedirect.LocalNetMarker, immediates);
        Assert.Equal(PodRedirectProgram.ToPod.Length, program.Length);

        var all = PodRedirect.Instantiate(PodRedirectProgram.FromPod, IpPrefix.Parse("0.0.0.0/0"), PodRedirect.ClusterNetMarker, PodRedirect.ClusterMaskMarker);
        Assert.DoesNotContain(PodRedirect.ClusterMaskMarker, Enumerable.Range(0, all.Length / 8).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(i * 8 + 4))));
        Assert.Throws<InvalidOperationException>(() => PodRedirect.Instantiate(PodRedirectProgram.ToPod, Cluster, PodRedirect.ClusterNetMarker, PodRedirect.ClusterMaskMarker)); // from_pod's markers
        Assert.Throws<ArgumentException>(() => PodRedirect.Instantiate(PodRedirectProgram.ToPod, IpPrefix.Parse("fd00::/64"), PodRedirect.LocalNetMarker, PodRedirect.LocalMaskMarker));
    }

    [Fact]
    public void The_kfunc_calls_and_the_status_load_are_patched_from_the_kernels_btf()
    {
        var kfuncs = PodRedirectKfuncs.ForKernel();
        var program = PodRedirect.Instantiate(PodRedirectProgram.FromPod, Cluster, PodRedirect.ClusterNetMarker, PodRedirect.ClusterMaskMarker);
        kfuncs.Apply(program, PodRedirectProgram.FromPodKfuncCalls, PodRedirectProgram.FromPodStatusLoad, PodRedirect.StatusMarker);
        foreach (var call in PodRedirectProgram.FromPodKfuncCalls)
        {
            Assert.Equal(0x20, program[call.Instruction * 8 + 1]); // BPF_PSEUDO_KFUNC_CALL
            Assert.Equal(call.Kfunc == PodRedirectKfuncs.LookupName ? kfuncs.Lookup : kfuncs.Release, BinaryPrimitives.ReadInt32LittleEndian(program.AsSpan(call.Instruction * 8 + 4)));
        }
        Assert.Equal(kfuncs.StatusOffset, BinaryPrimitives.ReadInt16LittleEndian(program.AsSpan(PodRedirectProgram.FromPodStatusLoad * 8 + 2)));
        Assert.Same(kfuncs, PodRedirectKfuncs.ForKernel()); // read once per process
    }

    [Fact]
    public void A_kernel_without_the_conntrack_kfuncs_is_refused_naming_what_it_lacks()
    {
        // A BTF with one type, an INT: no kfunc, no nf_conn.
        byte[] blob = [0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 16, 0, 0, 0, 5, 0, 0, 0,
            1, 0, 0, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0x20, 0, 0, 0, 0, (byte)'i', (byte)'n', (byte)'t', 0];
        var refused = Assert.Throws<NetlinkException>(() => PodRedirectKfuncs.Resolve(Btf.Parse(blob, "test")));
        Assert.Equal(Errno.EOPNOTSUPP, refused.Error);
        Assert.Contains("bpf_skb_ct_lookup is not in the kernel's BTF", refused.Message, StringComparison.Ordinal);
        Assert.Contains("Service", refused.Message, StringComparison.Ordinal);
    }

    private static List<uint> Immediates(byte[] program) =>
        [.. Enumerable.Range(0, program.Length / 8).Select(i => BinaryPrimitives.ReadUInt32LittleEndian(program.AsSpan(i * 8 + 4)))];

    private static string InterfaceMac(System.Net.NetworkInformation.PhysicalAddress mac) =>
        string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    private static long VxlanPackets(string node)
    {
        var stats = Shell.Run("ip", ["-n", node, "-j", "-s", "link", "show", "fathom.1"]).EnsureSuccess("ip -s link").Stdout;
        using var doc = System.Text.Json.JsonDocument.Parse(stats);
        var s64 = doc.RootElement[0].GetProperty("stats64");
        return s64.GetProperty("tx").GetProperty("packets").GetInt64() + s64.GetProperty("rx").GetProperty("packets").GetInt64();
    }

    private static long Counter(string node, string name) =>
        long.Parse(Shell.Exec(node, "nstat", "-az", name).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Single(l => l.StartsWith(name, StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);

    private static long Forwarded(string node) =>
        long.Parse(Shell.Exec(node, "nstat", "-az", "IpForwDatagrams").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Single(l => l.StartsWith("IpForwDatagrams", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}
