using System.Net;
using System.Net.Sockets;

namespace Fathom.Netlink;

/// <summary>
/// A route (struct rtmsg + RTA_*, include/uapi/linux/rtnetlink.h). Null settings mean "what
/// <c>ip route</c> would use": on add, protocol boot, type unicast, scope link without a
/// gateway and universe with one; on delete, wildcards the kernel matches any value against.
/// </summary>
public sealed record Route
{
    /// <summary>RTA_DST with rtm_dst_len; null is the default route (0.0.0.0/0 or ::/0).</summary>
    public IpPrefix? Destination { get; init; }

    /// <summary>RTA_GATEWAY: the next hop ("via").</summary>
    public IPAddress? Gateway { get; init; }

    /// <summary>RTA_OIF: the output device ("dev").</summary>
    public int? OutputIndex { get; init; }

    /// <summary>The table (rtm_table, or RTA_TABLE above 255); 254 is main.</summary>
    public int Table { get; init; } = RouteTables.Main;

    /// <summary>rtm_scope; null lets the library choose as <c>ip route</c> does.</summary>
    public RouteScope? Scope { get; init; }

    /// <summary>rtm_protocol: who installed the route; null is boot on add, any on delete.</summary>
    public RouteProtocol? Protocol { get; init; }

    /// <summary>RTA_PREFSRC: the preferred source address ("src").</summary>
    public IPAddress? Source { get; init; }

    /// <summary>RTA_PRIORITY: the metric.</summary>
    public int? Priority { get; init; }

    /// <summary>RTNH_F_ONLINK: the gateway is on the link even if no prefix says so.</summary>
    public bool OnLink { get; init; }

    /// <summary>RTAX_MTU in RTA_METRICS.</summary>
    public int? Mtu { get; init; }

    /// <summary>RTAX_ADVMSS in RTA_METRICS.</summary>
    public int? AdvMss { get; init; }

    /// <summary>rtm_type; null is unicast on add, any on delete.</summary>
    public RouteType? Type { get; init; }

    /// <summary>
    /// The address family when neither <see cref="Destination"/>, <see cref="Gateway"/> nor
    /// <see cref="Source"/> tells it (a default route through a device only).
    /// </summary>
    public AddressFamily? Family { get; init; }

    /// <summary>The family this route belongs to, from its addresses or <see cref="Family"/>.</summary>
    /// <exception cref="NetlinkException">EINVAL when nothing tells the family.</exception>
    public AddressFamily EffectiveFamily =>
        Destination?.Family ?? Gateway?.AddressFamily ?? Source?.AddressFamily ?? Family
        ?? throw new NetlinkException(Errno.EINVAL, "route has no destination, gateway, source or family");
}

/// <summary>Well-known routing tables (RT_TABLE_*, include/uapi/linux/rtnetlink.h).</summary>
public static class RouteTables
{
    /// <summary>RT_TABLE_UNSPEC: in a dump filter, "all tables".</summary>
    public const int Unspec = 0;
    /// <summary>RT_TABLE_DEFAULT.</summary>
    public const int Default = 253;
    /// <summary>RT_TABLE_MAIN: where <c>ip route</c> works by default.</summary>
    public const int Main = 254;
    /// <summary>RT_TABLE_LOCAL: the kernel's local and broadcast routes.</summary>
    public const int Local = 255;
}

/// <summary>Route and address scopes (RT_SCOPE_*, include/uapi/linux/rtnetlink.h).</summary>
public enum RouteScope : byte
{
    /// <summary>RT_SCOPE_UNIVERSE: global.</summary>
    Universe = 0,
    /// <summary>RT_SCOPE_SITE.</summary>
    Site = 200,
    /// <summary>RT_SCOPE_LINK: directly attached.</summary>
    Link = 253,
    /// <summary>RT_SCOPE_HOST: this host.</summary>
    Host = 254,
    /// <summary>RT_SCOPE_NOWHERE: in a delete, "any scope".</summary>
    Nowhere = 255,
}

/// <summary>Who installed a route (RTPROT_*, include/uapi/linux/rtnetlink.h); other values are valid too.</summary>
public enum RouteProtocol : byte
{
    /// <summary>RTPROT_UNSPEC.</summary>
    Unspec = 0,
    /// <summary>RTPROT_REDIRECT.</summary>
    Redirect = 1,
    /// <summary>RTPROT_KERNEL: made by the kernel (prefix routes of addresses).</summary>
    Kernel = 2,
    /// <summary>RTPROT_BOOT: <c>ip route add</c>'s default.</summary>
    Boot = 3,
    /// <summary>RTPROT_STATIC.</summary>
    Static = 4,
    /// <summary>RTPROT_RA: IPv6 router advertisement.</summary>
    Ra = 9,
    /// <summary>RTPROT_DHCP.</summary>
    Dhcp = 16,
}

/// <summary>Route types (RTN_*, include/uapi/linux/rtnetlink.h).</summary>
public enum RouteType : byte
{
    /// <summary>RTN_UNSPEC.</summary>
    Unspec = 0,
    /// <summary>RTN_UNICAST: a gateway or direct route.</summary>
    Unicast = 1,
    /// <summary>RTN_LOCAL: accept locally.</summary>
    Local = 2,
    /// <summary>RTN_BROADCAST.</summary>
    Broadcast = 3,
    /// <summary>RTN_ANYCAST.</summary>
    Anycast = 4,
    /// <summary>RTN_MULTICAST.</summary>
    Multicast = 5,
    /// <summary>RTN_BLACKHOLE: drop silently.</summary>
    Blackhole = 6,
    /// <summary>RTN_UNREACHABLE: drop with ICMP unreachable.</summary>
    Unreachable = 7,
    /// <summary>RTN_PROHIBIT: drop with ICMP prohibited.</summary>
    Prohibit = 8,
    /// <summary>RTN_THROW: continue the lookup in the next rule.</summary>
    Throw = 9,
}
