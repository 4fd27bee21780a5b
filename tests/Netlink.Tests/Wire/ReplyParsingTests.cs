using System.Net;
using System.Net.NetworkInformation;
using Fathom.Netlink.Addresses;
using Fathom.Netlink.Links;
using Fathom.Netlink.Neighbors;
using Fathom.Netlink.Routes;
using Fathom.Netlink.Rules;
using Fathom.Netlink.Sockets;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Tests.Wire;

/// <summary>Replies parsed from datagrams the kernel really sent (see <see cref="CapturedReplies"/>).</summary>
public sealed class ReplyParsingTests
{
    /// <summary>Walks a datagram as the request loop does and parses every message of the parser's types.</summary>
    internal static List<T> ParseAll<T>(string hex, ReplyParser<T> parse) where T : class
    {
        var results = new List<T>();
        var reader = new MessageReader(Convert.FromHexString(hex));
        while (reader.TryRead(out var message))
            if (parse(message) is { } item) results.Add(item);
        return results;
    }

    [Fact]
    public void A_veth_bridge_port_in_another_namespace()
    {
        var link = Assert.Single(ParseAll(CapturedReplies.LinkVeth, LinkMessages.Parse));

        Assert.Equal(2, link.Index);
        Assert.Equal("v0", link.Name);
        Assert.Equal("veth", link.Kind);
        Assert.Equal("bridge", link.SlaveKind);
        Assert.Equal(3, link.MasterIndex);
        Assert.Equal("pod uplink", link.Alias);
        Assert.Equal(2, link.PeerIndex);
        Assert.Equal(0, link.PeerNetnsId);
        Assert.True(link.IsUp);
        Assert.Equal(LinkFlags.Up | LinkFlags.Broadcast | LinkFlags.Multicast, link.Flags);
        Assert.Equal(OperState.Down, link.OperState);
        Assert.Equal(PhysicalAddress.Parse("e6-ae-da-e7-23-ab"), link.Mac);
        Assert.Equal(1500, link.Mtu);
    }

    [Fact]
    public void A_vxlan_device_with_its_parameters()
    {
        var link = Assert.Single(ParseAll(CapturedReplies.LinkVxlan, LinkMessages.Parse));

        Assert.Equal((4, "vx0", "vxlan", 1450), (link.Index, link.Name, link.Kind, link.Mtu));
        Assert.Equal(PhysicalAddress.Parse("92-98-5b-6e-4d-d8"), link.Mac);
        var vxlan = link.Vxlan!;
        Assert.Equal(42, vxlan.Vni);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), vxlan.Local);
        Assert.Null(vxlan.Group);
        Assert.Equal(3, vxlan.UnderlyingIndex);
        Assert.Equal(4789, vxlan.DstPort);
        Assert.False(vxlan.Learning);
        Assert.Null(link.MasterIndex);
        Assert.Null(link.PeerNetnsId);
    }

    [Fact]
    public void A_macvlan_and_a_bridge()
    {
        var macvlan = Assert.Single(ParseAll(CapturedReplies.LinkMacvlan, LinkMessages.Parse));
        Assert.Equal((5, "mv0", "macvlan"), (macvlan.Index, macvlan.Name, macvlan.Kind));
        Assert.Equal(MacvlanMode.Bridge, macvlan.MacvlanMode);
        Assert.Equal(3, macvlan.PeerIndex);

        var bridge = Assert.Single(ParseAll(CapturedReplies.LinkBridge, LinkMessages.Parse));
        Assert.Equal((3, "br0", "bridge"), (bridge.Index, bridge.Name, bridge.Kind));
        Assert.Null(bridge.Vxlan);
    }

    [Fact]
    public void An_address_dump_with_label_broadcast_and_v6_flags()
    {
        var addresses = ParseAll(CapturedReplies.AddressDump, AddressMessages.Parse);

        Assert.Equal(2, addresses.Count);
        var v4 = addresses[0];
        Assert.Equal(3, v4.Index);
        Assert.Equal(IpPrefix.Parse("10.0.0.1/24"), v4.Prefix);
        Assert.Equal(IPAddress.Parse("10.0.0.255"), v4.Broadcast);
        Assert.Equal("br0:1", v4.Label);
        Assert.Equal(RouteScope.Universe, v4.Scope);
        Assert.Null(v4.Peer);
        var v6 = addresses[1];
        Assert.Equal(IpPrefix.Parse("fd00::1/64"), v6.Prefix);
        Assert.Equal(AddressFlags.NoDad | AddressFlags.NoPrefixRoute | AddressFlags.Permanent, v6.Flags);

        // The dump's end: NLMSG_DONE with error 0, flagged multi-part.
        var reader = new MessageReader(Convert.FromHexString(CapturedReplies.AddressDone));
        Assert.True(reader.TryRead(out var done));
        Assert.Equal(Rtnl.NLMSG_DONE, done.Type);
        Assert.Equal(0, NetlinkSocket.ErrorOf(done, out var text));
        Assert.Null(text);
    }

    [Fact]
    public void A_route_with_metrics_in_table_100()
    {
        var route = Assert.Single(ParseAll(CapturedReplies.RouteDump, RouteMessages.Parse));

        Assert.Equal(IpPrefix.Parse("10.1.0.0/16"), route.Destination);
        Assert.Equal(IPAddress.Parse("10.0.0.2"), route.Gateway);
        Assert.Equal(3, route.OutputIndex);
        Assert.Equal(100, route.Table);
        Assert.Equal(10, route.Priority);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), route.Source);
        Assert.Equal(1400, route.Mtu);
        Assert.Equal(1360, route.AdvMss);
        Assert.Equal(RouteProtocol.Boot, route.Protocol);
        Assert.Equal(RouteScope.Universe, route.Scope);
        Assert.Equal(RouteType.Unicast, route.Type);
        Assert.False(route.OnLink);
    }

    [Fact]
    public void A_rule_dump_ending_in_done()
    {
        var rules = ParseAll(CapturedReplies.RuleDump, RuleMessages.Parse);

        Assert.Equal([0, 1000, 32766, 32767], rules.Select(r => r.Priority ?? -1));
        Assert.Equal([RouteTables.Local, 100, RouteTables.Main, RouteTables.Default], rules.Select(r => r.Table));
        Assert.Equal(IpPrefix.Parse("10.0.0.0/24"), rules[1].From);
        Assert.Null(rules[1].To);
        Assert.All(rules, r => Assert.Equal(RuleAction.ToTable, r.Action));
    }

    [Fact]
    public void A_neighbour_dump_and_an_fdb_entry()
    {
        var neighbors = ParseAll(CapturedReplies.NeighborDump, NeighborMessages.ParseNeighbor);
        var permanent = Assert.Single(neighbors, n => n.State == NeighborState.Permanent);
        Assert.Equal(IPAddress.Parse("10.0.0.9"), permanent.Ip);
        Assert.Equal(PhysicalAddress.Parse("02-00-00-00-00-09"), permanent.Mac);
        Assert.Equal(3, permanent.Index);
        Assert.Equal(3, neighbors.Count);
        Assert.Empty(ParseAll(CapturedReplies.NeighborDump, NeighborMessages.ParseFdb));

        var fdb = Assert.Single(ParseAll(CapturedReplies.FdbDump, NeighborMessages.ParseFdb));
        Assert.Equal(4, fdb.Index);
        Assert.Equal(PhysicalAddress.Parse("00-00-00-00-00-00"), fdb.Mac);
        Assert.Equal(IPAddress.Parse("10.0.0.2"), fdb.Destination);
        Assert.True(fdb.Self);
        Assert.False(fdb.Master);
        Assert.True(fdb.Permanent);
    }

    [Fact]
    public void An_uncapped_error_carries_errno_and_the_ext_ack_text()
    {
        var reader = new MessageReader(Convert.FromHexString(CapturedReplies.RouteError));
        Assert.True(reader.TryRead(out var message));

        Assert.Equal(Rtnl.NLMSG_ERROR, message.Type);
        Assert.Equal((int)Errno.ENETUNREACH, NetlinkSocket.ErrorOf(message, out var text));
        Assert.Equal("Nexthop has invalid gateway", text);
        var e = Assert.Throws<NetlinkException>(() => ThrowIfError(CapturedReplies.RouteError));
        Assert.Equal(Errno.ENETUNREACH, e.Error);
        Assert.Equal("Nexthop has invalid gateway", e.KernelMessage);
    }

    private static void ThrowIfError(string hex)
    {
        var reader = new MessageReader(Convert.FromHexString(hex));
        while (reader.TryRead(out var message)) NetlinkSocket.ThrowIfError(message, "add route");
    }

    [Fact]
    public void A_capped_error_has_its_text_right_after_the_echoed_header()
    {
        // The shape the kernel sends to a NETLINK_CAP_ACK socket (net/netlink/af_netlink.c
        // netlink_ack): error, the request's nlmsghdr only, then NLMSGERR_ATTR_MSG.
        Span<byte> buffer = stackalloc byte[128];
        var w = new NetlinkWriter(buffer);
        w.BeginMessage(Rtnl.NLMSG_ERROR, Rtnl.NLM_F_CAPPED | Rtnl.NLM_F_ACK_TLVS);
        NativeEndian.WriteInt32(w.Reserve(4), -(int)Errno.EEXIST);
        var echoed = w.Reserve(Rtnl.HeaderLength);
        NativeEndian.WriteUInt32(echoed, 999); // the original length, not followed by its payload
        w.PutString(Rtnl.NLMSGERR_ATTR_MSG, "File exists somewhere");
        w.EndMessage();

        var reader = new MessageReader(w.Written);
        Assert.True(reader.TryRead(out var message));
        Assert.Equal((int)Errno.EEXIST, NetlinkSocket.ErrorOf(message, out var text));
        Assert.Equal("File exists somewhere", text);
    }
}
