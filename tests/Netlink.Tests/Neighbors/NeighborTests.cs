using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;

namespace Fathom.Netlink.Tests.Neighbors;

/// <summary>
/// Neighbour and FDB entries against the real kernel, cross-checked both ways with
/// <c>ip -j neigh</c> and <c>bridge -j fdb</c>.
/// </summary>
public sealed class NeighborTests
{
    private static readonly PhysicalAddress Vtep1 = PhysicalAddress.Parse("02-00-00-00-0b-01");
    private static readonly PhysicalAddress Vtep2 = PhysicalAddress.Parse("02-00-00-00-0b-02");
    private static readonly PhysicalAddress Zero = PhysicalAddress.Parse("00-00-00-00-00-00");

    [PrivilegedFact("ip")]
    public void Permanent_neighbours_written_by_either_side_are_read_by_the_other()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");
        ns.Netlink.SetLinkUp(link.Index);

        ns.Netlink.AddNeighbor(new Neighbor { Index = link.Index, Ip = IPAddress.Parse("10.0.0.9"), Mac = Vtep1 });
        ns.Netlink.AddNeighbor(new Neighbor { Index = link.Index, Ip = IPAddress.Parse("fd00::9"), Mac = Vtep1 });
        ns.Ip("neigh", "add", "10.0.0.10", "lladdr", "02:00:00:00:0b:02", "dev", "va", "nud", "permanent");

        var shown = ns.IpJson("neigh", "show", "dev", "va").EnumerateArray().ToDictionary(n => n.GetProperty("dst").GetString()!);
        Assert.Equal("02:00:00:00:0b:01", shown["10.0.0.9"].GetProperty("lladdr").GetString());
        Assert.Equal("PERMANENT", shown["10.0.0.9"].GetProperty("state")[0].GetString());
        Assert.Equal("02:00:00:00:0b:01", shown["fd00::9"].GetProperty("lladdr").GetString());

        var v4 = ns.Netlink.ListNeighbors(AddressFamily.InterNetwork, link.Index);
        var ten = v4.Single(n => n.Ip.Equals(IPAddress.Parse("10.0.0.10")));
        Assert.Equal(Vtep2, ten.Mac);
        Assert.Equal(NeighborState.Permanent, ten.State);
        Assert.Equal(2, v4.Count);
        Assert.Single(ns.Netlink.ListNeighbors(AddressFamily.InterNetworkV6, link.Index), n => n.Ip.Equals(IPAddress.Parse("fd00::9")));

        var exists = Assert.Throws<NetlinkException>(() => ns.Netlink.AddNeighbor(new Neighbor { Index = link.Index, Ip = IPAddress.Parse("10.0.0.9"), Mac = Vtep2 }));
        Assert.Equal(Errno.EEXIST, exists.Error);
        ns.Netlink.ReplaceNeighbor(new Neighbor { Index = link.Index, Ip = IPAddress.Parse("10.0.0.9"), Mac = Vtep2 });
        Assert.Equal("02:00:00:00:0b:02", ns.IpJson("neigh", "show", "10.0.0.9", "dev", "va")[0].GetProperty("lladdr").GetString());

        ns.Netlink.DeleteNeighbor(ten);
        Assert.Empty(ns.IpJson("neigh", "show", "10.0.0.10", "dev", "va").EnumerateArray());
        var missing = Assert.Throws<NetlinkException>(() => ns.Netlink.DeleteNeighbor(ten));
        Assert.Equal(Errno.ENOENT, missing.Error);
    }

    [PrivilegedFact("ip")]
    public void A_neighbours_protocol_mark_is_kept_and_read_both_ways()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");
        ns.Netlink.SetLinkUp(link.Index);

        ns.Netlink.ReplaceNeighbor(new Neighbor { Index = link.Index, Ip = IPAddress.Parse("10.0.0.9"), Mac = Vtep1, Protocol = (RouteProtocol)95 });
        ns.Ip("neigh", "add", "10.0.0.10", "lladdr", "02:00:00:00:0b:02", "dev", "va", "nud", "permanent", "proto", "96");
        ns.Ip("neigh", "add", "10.0.0.11", "lladdr", "02:00:00:00:0b:02", "dev", "va", "nud", "permanent");

        Assert.Equal("95", ns.IpJson("neigh", "show", "10.0.0.9", "dev", "va")[0].GetProperty("protocol").ToString());
        var read = ns.Netlink.ListNeighbors(AddressFamily.InterNetwork, link.Index).ToDictionary(n => n.Ip.ToString());
        Assert.Equal((RouteProtocol)95, read["10.0.0.9"].Protocol);
        Assert.Equal((RouteProtocol)96, read["10.0.0.10"].Protocol);
        Assert.Null(read["10.0.0.11"].Protocol);

        // A replace with the mark marks an entry made without one (a pin an older agent made).
        ns.Netlink.ReplaceNeighbor(new Neighbor { Index = link.Index, Ip = IPAddress.Parse("10.0.0.11"), Mac = Vtep1, Protocol = (RouteProtocol)95 });
        Assert.Equal((RouteProtocol)95, ns.Netlink.ListNeighbors(AddressFamily.InterNetwork, link.Index).Single(n => n.Ip.ToString() == "10.0.0.11").Protocol);
    }

    [PrivilegedFact("ip", "bridge")]
    public void Vxlan_fdb_entries_written_by_either_side_are_read_by_the_other()
    {
        Privileged.Require("ip", "bridge");
        using var ns = KernelNetns.Create();
        var vx = ns.Netlink.CreateVxlan("vx0", new VxlanOptions { Vni = 1, Local = IPAddress.Parse("10.0.0.1") });

        // The flood entry to two VTEPs (append), and a unicast MAC → VTEP entry, as the overlay mode programs them.
        ns.Netlink.AppendFdb(new FdbEntry { Index = vx.Index, Mac = Zero, Destination = IPAddress.Parse("10.0.0.2") });
        ns.Netlink.AppendFdb(new FdbEntry { Index = vx.Index, Mac = Zero, Destination = IPAddress.Parse("10.0.0.3") });
        ns.Netlink.AddFdb(new FdbEntry { Index = vx.Index, Mac = Vtep1, Destination = IPAddress.Parse("10.0.0.2") });
        ns.Bridge("fdb", "add", "02:00:00:00:0b:02", "dev", "vx0", "dst", "10.0.0.4", "self", "permanent");

        var shown = ns.BridgeJson("fdb", "show", "dev", "vx0").EnumerateArray()
            .Select(e => (e.GetProperty("mac").GetString(), e.TryGetProperty("dst", out var d) ? d.GetString() : null)).ToList();
        Assert.Contains(("00:00:00:00:00:00", "10.0.0.2"), shown);
        Assert.Contains(("00:00:00:00:00:00", "10.0.0.3"), shown);
        Assert.Contains(("02:00:00:00:0b:01", "10.0.0.2"), shown);

        var entries = ns.Netlink.ListFdb(vx.Index);
        Assert.Equal(shown.Count, entries.Count);
        var fromIp = entries.Single(e => e.Mac.Equals(Vtep2));
        Assert.Equal(IPAddress.Parse("10.0.0.4"), fromIp.Destination);
        Assert.True(fromIp.Self);
        Assert.True(fromIp.Permanent);

        var exists = Assert.Throws<NetlinkException>(() => ns.Netlink.AddFdb(new FdbEntry { Index = vx.Index, Mac = Vtep1, Destination = IPAddress.Parse("10.0.0.2") }));
        Assert.Equal(Errno.EEXIST, exists.Error);
        ns.Netlink.ReplaceFdb(new FdbEntry { Index = vx.Index, Mac = Vtep1, Destination = IPAddress.Parse("10.0.0.9") });
        Assert.Equal(IPAddress.Parse("10.0.0.9"), ns.Netlink.ListFdb(vx.Index).Single(e => e.Mac.Equals(Vtep1)).Destination);

        ns.Netlink.DeleteFdb(new FdbEntry { Index = vx.Index, Mac = Zero, Destination = IPAddress.Parse("10.0.0.3") });
        var zeros = ns.BridgeJson("fdb", "show", "dev", "vx0").EnumerateArray()
            .Where(e => e.GetProperty("mac").GetString() == "00:00:00:00:00:00").Select(e => e.GetProperty("dst").GetString());
        Assert.Equal(["10.0.0.2"], zeros);
        // A MAC without any entry is ENOENT; a missing remote of a MAC that has others is not an
        // error for the kernel (drivers/net/vxlan/vxlan_core.c __vxlan_fdb_delete), as with `bridge fdb del`.
        var missing = Assert.Throws<NetlinkException>(() => ns.Netlink.DeleteFdb(new FdbEntry { Index = vx.Index, Mac = PhysicalAddress.Parse("02-00-00-00-0b-99"), Destination = IPAddress.Parse("10.0.0.2") }));
        Assert.Equal(Errno.ENOENT, missing.Error);
    }

    [PrivilegedFact("ip", "bridge")]
    public void Bridge_port_fdb_entries_are_listed_with_their_master()
    {
        Privileged.Require("ip", "bridge");
        using var ns = KernelNetns.Create();
        var bridge = ns.Netlink.CreateBridge("br0");
        var port = ns.Netlink.CreateVeth("va", "vb");
        ns.Netlink.SetLinkMaster(port.Index, bridge.Index);

        ns.Netlink.AddFdb(new FdbEntry { Index = port.Index, Mac = Vtep1, Self = false, Master = true });

        var shown = ns.BridgeJson("fdb", "show", "dev", "va").EnumerateArray().Single(e => e.GetProperty("mac").GetString() == "02:00:00:00:0b:01");
        Assert.Equal("br0", shown.GetProperty("master").GetString());
        var listed = ns.Netlink.ListFdb(port.Index).Single(e => e.Mac.Equals(Vtep1));
        Assert.Equal(bridge.Index, listed.MasterIndex);
        Assert.True(listed.Permanent);
    }
}
