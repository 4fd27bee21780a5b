using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;
using Fathom.Netlink;

namespace Fathom.Datapath.Overlay.Tests;

/// <summary>
/// The VXLAN overlay on the real kernel: two nodes on one fabric, a VTEP each, a pod on each
/// wired by <see cref="NodeVeth"/> at the overlay's MTU; the routes, neighbours and FDB entries
/// programmed by <see cref="VxlanOverlay"/>.
/// </summary>
public sealed class VxlanOverlayTests
{
    private static readonly string[] Subnets = ["10.244.1.0/24", "10.244.2.0/24"];
    private static readonly string[] PodIps = ["10.244.1.5", "10.244.2.5"];
    private static readonly PhysicalAddress[] VtepMacs = [PhysicalAddress.Parse("02-FA-00-00-00-01"), PhysicalAddress.Parse("02-FA-00-00-00-02")];

    private static VtepSpec Spec(TwoNodeFabric fabric, int node, NetlinkHandle host) =>
        new("fathom.1", 1, IPAddress.Parse(TwoNodeFabric.NodeIps[node]), host.GetLink("eth0").Index, 1500, IpPrefix.Parse(Subnets[node]));

    private static PeerSubnet Peer(int node) =>
        new(IpPrefix.Parse(Subnets[node]), IPAddress.Parse(TwoNodeFabric.NodeIps[node]), VtepMacs[node]);

    private static void Node(TwoNodeFabric fabric, int node, params PeerSubnet[] peers)
    {
        using var nodeNs = Netns.Open(fabric.Nodes[node].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        var vtep = VxlanOverlay.EnsureDevice(host, Spec(fabric, node, host), VtepMacs[node]);
        VxlanOverlay.Reconcile(host, vtep, peers);
    }

    private static void WirePod(TwoNodeFabric fabric, int node)
    {
        using var nodeNs = Netns.Open(fabric.Nodes[node].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        using var podNs = Netns.Open(fabric.Pods[node].Path);
        using var pod = NetlinkHandle.OpenIn(podNs);
        NodeVeth.Create(host, podNs, pod, new NodeVethSpec(NodeVeth.HostNameFor($"pod{node}", "eth0"), "eth0",
            IPAddress.Parse(PodIps[node]), [IpPrefix.Parse("0.0.0.0/0")], Mtu: 1500 - VxlanOverlay.Overhead));
    }

    [PrivilegedFact("ip", "ping", "sysctl")]
    public void Pods_on_two_nodes_reach_each_other_through_the_VTEPs()
    {
        using var fabric = new TwoNodeFabric("ov");
        WirePod(fabric, 0);
        WirePod(fabric, 1);
        Node(fabric, 0, Peer(1));
        Node(fabric, 1, Peer(0));

        Assert.True(fabric.Pings(0, PodIps[1]), "pod on node1 → pod on node2");
        // A full-size packet of the pod's MTU crosses unfragmented (don't-fragment set).
        Assert.Equal(0, Shell.Exec(fabric.Pods[0].Name, "ping", "-c1", "-W2", "-M", "do", "-s", "1422", PodIps[1]).ExitCode);

        var node0 = fabric.Nodes[0].Name;
        var device = JsonDocument.Parse(Shell.IpIn(node0, "-d", "-j", "link", "show", "fathom.1")).RootElement[0];
        Assert.Equal(1450, device.GetProperty("mtu").GetInt32());
        Assert.False(device.GetProperty("linkinfo").GetProperty("info_data").GetProperty("learning").GetBoolean());
        Assert.Contains("10.244.2.0/24 via 10.244.2.0 dev fathom.1 proto 95 onlink", Shell.IpIn(node0, "route", "show"));
        Assert.Contains("10.244.2.0 lladdr 02:fa:00:00:00:02 PERMANENT", Shell.IpIn(node0, "neigh", "show", "dev", "fathom.1"));
        Assert.Contains("02:fa:00:00:00:02 dst 10.80.0.2 self permanent", Shell.Run("ip", ["netns", "exec", node0, "bridge", "fdb", "show", "dev", "fathom.1"]).Stdout);
    }

    [PrivilegedFact("ip", "ping", "sysctl")]
    public void A_node_leaving_takes_its_route_neighbour_and_FDB_entry_and_rejoining_restores_them()
    {
        using var fabric = new TwoNodeFabric("ov");
        WirePod(fabric, 0);
        WirePod(fabric, 1);
        Node(fabric, 0, Peer(1));
        Node(fabric, 1, Peer(0));
        Node(fabric, 0); // node2's lease is gone

        var node0 = fabric.Nodes[0].Name;
        Assert.DoesNotContain("10.244.2.0/24", Shell.IpIn(node0, "route", "show"));
        Assert.DoesNotContain("02:fa:00:00:00:02", Shell.IpIn(node0, "neigh", "show", "dev", "fathom.1"));
        Assert.DoesNotContain("02:fa:00:00:00:02", Shell.Run("ip", ["netns", "exec", node0, "bridge", "fdb", "show", "dev", "fathom.1"]).Stdout);
        Assert.False(fabric.Pings(0, PodIps[1]));

        Node(fabric, 0, Peer(1)); // it rejoins with its old subnet
        Assert.True(fabric.Pings(0, PodIps[1]));
    }

    [PrivilegedFact("ip", "sysctl")]
    public void EnsureDevice_keeps_a_fitting_device_and_replaces_one_whose_VNI_changed()
    {
        using var fabric = new TwoNodeFabric("ov");
        using var nodeNs = Netns.Open(fabric.Nodes[0].Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        var spec = Spec(fabric, 0, host);
        var first = VxlanOverlay.EnsureDevice(host, spec, VtepMacs[0]);
        Assert.Equal(first.Index, VxlanOverlay.EnsureDevice(host, spec, VtepMacs[0]).Index);
        var changed = VxlanOverlay.EnsureDevice(host, spec with { Vni = 7 }, VtepMacs[0]);
        Assert.Equal(7, changed.Vxlan!.Vni);
        Assert.Contains("10.244.1.0/32", Shell.IpIn(fabric.Nodes[0].Name, "addr", "show", "dev", "fathom.1"));
    }
}
