using System.Net;
using System.Net.Sockets;
using Fathom.Netlink.Addresses;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Routes;

/// <summary>
/// RTM_*ROUTE requests and replies. Defaults and attribute order follow iproute2 6.1
/// ip/iproute.c iproute_modify, so <see cref="Route"/> with null settings means what
/// <c>ip route add|del</c> means.
/// </summary>
internal static class RouteMessages
{
    public const ushort AddFlags = Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL;
    public const ushort ReplaceFlags = Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE;

    public static void WriteNew(ref NetlinkWriter w, Route route, ushort flags) => Write(ref w, Rtnl.RTM_NEWROUTE, flags, route);

    public static void WriteDelete(ref NetlinkWriter w, Route route) => Write(ref w, Rtnl.RTM_DELROUTE, Rtnl.NLM_F_ACK, route);

    private static void Write(ref NetlinkWriter w, ushort type, ushort flags, Route route)
    {
        ArgumentNullException.ThrowIfNull(route);
        var family = route.EffectiveFamily;
        CheckFamily(route.Gateway, family, "gateway");
        CheckFamily(route.Source, family, "source");
        if (route.Table < 0) throw new NetlinkException(Errno.EINVAL, $"table {route.Table} is negative");
        bool delete = type == Rtnl.RTM_DELROUTE;
        var routeType = route.Type ?? (delete ? RouteType.Unspec : RouteType.Unicast);

        w.BeginMessage(type, flags);
        var header = w.Reserve(Rtnl.RtMsgLength);
        header[0] = AddressMessages.Family(family);
        header[1] = (byte)(route.Destination?.PrefixLength ?? 0);
        // Tables above 255 only fit RTA_TABLE; rtm_table then says RT_TABLE_UNSPEC.
        header[4] = route.Table < 256 ? (byte)route.Table : (byte)RouteTables.Unspec;
        header[5] = (byte)(route.Protocol ?? (delete ? RouteProtocol.Unspec : RouteProtocol.Boot));
        header[6] = (byte)(route.Scope ?? DefaultScope(route, family, routeType, delete));
        header[7] = (byte)routeType;
        NativeEndian.WriteUInt32(header[8..], route.OnLink ? Rtnl.RTNH_F_ONLINK : 0);

        // The kernel refuses host bits in a destination ("Invalid prefix for given prefix length"), so mask them.
        if (route.Destination is { } destination) w.PutAddress(Rtnl.RTA_DST, destination.Network.Address);
        if (route.Gateway is { } gateway) w.PutAddress(Rtnl.RTA_GATEWAY, gateway);
        if (route.Priority is int priority) w.PutU32(Rtnl.RTA_PRIORITY, (uint)priority);
        if (route.Source is { } source) w.PutAddress(Rtnl.RTA_PREFSRC, source);
        if (route.Table >= 256) w.PutU32(Rtnl.RTA_TABLE, (uint)route.Table);
        if (route.OutputIndex is int oif) w.PutI32(Rtnl.RTA_OIF, oif);
        if (route.Mtu is not null || route.AdvMss is not null)
        {
            int metrics = w.BeginNested(Rtnl.RTA_METRICS);
            if (route.Mtu is int mtu) w.PutU32(Rtnl.RTAX_MTU, (uint)mtu);
            if (route.AdvMss is int advmss) w.PutU32(Rtnl.RTAX_ADVMSS, (uint)advmss);
            w.EndNested(metrics);
        }
    }

    /// <summary>iproute_modify's choice when no scope is given.</summary>
    private static RouteScope DefaultScope(Route route, AddressFamily family, RouteType type, bool delete)
    {
        if (family == AddressFamily.InterNetworkV6) return RouteScope.Universe;
        return type switch
        {
            RouteType.Local => RouteScope.Host,
            RouteType.Broadcast or RouteType.Multicast or RouteType.Anycast => RouteScope.Link,
            RouteType.Unicast or RouteType.Unspec when delete => RouteScope.Nowhere,
            RouteType.Unicast or RouteType.Unspec when route.Gateway is null => RouteScope.Link,
            _ => RouteScope.Universe,
        };
    }

    private static void CheckFamily(IPAddress? address, AddressFamily family, string what)
    {
        if (address is not null && address.AddressFamily != family)
            throw new NetlinkException(Errno.EINVAL, $"the route's {what} {address} is not {family}");
    }

    /// <summary>The dump <c>ip route show</c> sends: the family and RTA_TABLE (honoured with NETLINK_GET_STRICT_CHK).</summary>
    public static void WriteDump(ref NetlinkWriter w, AddressFamily family, int table)
    {
        w.BeginMessage(Rtnl.RTM_GETROUTE, Rtnl.NLM_F_DUMP);
        var header = w.Reserve(Rtnl.RtMsgLength);
        header[0] = AddressMessages.Family(family);
        if (table != RouteTables.Unspec) w.PutU32(Rtnl.RTA_TABLE, (uint)table);
    }

    public static Route? Parse(in NetlinkMessage message) =>
        message.Type is Rtnl.RTM_NEWROUTE or Rtnl.RTM_DELROUTE ? Parse(message.Payload) : null;

    /// <summary>Parses struct rtmsg + RTA_*; null for cached clones and families other than IPv4/IPv6.</summary>
    public static Route? Parse(ReadOnlySpan<byte> payload)
    {
        var header = Malformed.Require(payload, Rtnl.RtMsgLength, "rtmsg");
        uint flags = NativeEndian.ReadUInt32(header[8..]);
        if (AddressMessages.Family(header[0]) is not { } family || (flags & Rtnl.RTM_F_CLONED) != 0) return null;
        int dstLength = header[1];
        int table = header[4];
        IPAddress? destination = null, gateway = null, source = null;
        int? oif = null, priority = null, mtu = null, advmss = null;

        var attributes = new AttributeReader(payload[Rtnl.RtMsgLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            switch (type)
            {
                case Rtnl.RTA_DST: destination = Malformed.Address(value, "RTA_DST"); break;
                case Rtnl.RTA_GATEWAY: gateway = Malformed.Address(value, "RTA_GATEWAY"); break;
                case Rtnl.RTA_PREFSRC: source = Malformed.Address(value, "RTA_PREFSRC"); break;
                case Rtnl.RTA_OIF: oif = Malformed.I32(value, "RTA_OIF"); break;
                case Rtnl.RTA_PRIORITY: priority = Malformed.I32(value, "RTA_PRIORITY"); break;
                case Rtnl.RTA_TABLE: table = Malformed.I32(value, "RTA_TABLE"); break;
                case Rtnl.RTA_METRICS:
                    var metrics = new AttributeReader(value);
                    while (metrics.TryRead(out ushort metric, out var metricValue))
                    {
                        if (metric == Rtnl.RTAX_MTU) mtu = Malformed.I32(metricValue, "RTAX_MTU");
                        else if (metric == Rtnl.RTAX_ADVMSS) advmss = Malformed.I32(metricValue, "RTAX_ADVMSS");
                    }
                    break;
            }
        }
        if (destination is null && dstLength != 0)
            throw Malformed.Error($"route with rtm_dst_len {dstLength} but no RTA_DST");
        return new Route
        {
            Destination = Malformed.Prefix(destination, dstLength, family, "RTA_DST"),
            Gateway = gateway,
            OutputIndex = oif,
            Table = table,
            Scope = (RouteScope)header[6],
            Protocol = (RouteProtocol)header[5],
            Source = source,
            Priority = priority,
            OnLink = (flags & Rtnl.RTNH_F_ONLINK) != 0,
            Mtu = mtu,
            AdvMss = advmss,
            Type = (RouteType)header[7],
            Family = family,
        };
    }
}
