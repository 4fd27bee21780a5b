using System.Net;
using System.Net.Sockets;

namespace Fathom.Netlink;

/// <summary>An interface address as reported in <c>RTM_NEWADDR</c> (struct ifaddrmsg + IFA_*, include/uapi/linux/if_addr.h).</summary>
public sealed record Address
{
    /// <summary>The ifindex the address is on.</summary>
    public required int Index { get; init; }

    /// <summary>IFA_LOCAL (IFA_ADDRESS for IPv6) with ifa_prefixlen.</summary>
    public required IpPrefix Prefix { get; init; }

    /// <summary>IFA_ADDRESS when it differs from IFA_LOCAL: the peer of a point-to-point address.</summary>
    public IPAddress? Peer { get; init; }

    /// <summary>IFA_BROADCAST (IPv4 only).</summary>
    public IPAddress? Broadcast { get; init; }

    /// <summary>ifa_scope.</summary>
    public RouteScope Scope { get; init; }

    /// <summary>IFA_FLAGS (or ifa_flags for the low 8 bits on old kernels).</summary>
    public AddressFlags Flags { get; init; }

    /// <summary>IFA_LABEL (IPv4 only), e.g. "eth0" or "eth0:1".</summary>
    public string? Label { get; init; }

    /// <summary>The address family.</summary>
    public AddressFamily Family => Prefix.Family;
}

/// <summary>Optional settings for <see cref="NetlinkHandle.AddAddress"/>.</summary>
public sealed record AddressOptions
{
    /// <summary>IFA_BROADCAST (IPv4).</summary>
    public IPAddress? Broadcast { get; init; }

    /// <summary>ifa_scope; universe (global) when null, as with <c>ip addr add</c>.</summary>
    public RouteScope? Scope { get; init; }

    /// <summary>IFA_F_NODAD: skip IPv6 duplicate address detection (the address is usable at once).</summary>
    public bool NoDad { get; init; }

    /// <summary>IFA_F_NOPREFIXROUTE: do not add the prefix route for the subnet.</summary>
    public bool NoPrefixRoute { get; init; }

    /// <summary>IFA_LABEL (IPv4); must start with the link's name.</summary>
    public string? Label { get; init; }
}

/// <summary>Address flags (IFA_F_*, include/uapi/linux/if_addr.h).</summary>
[Flags]
public enum AddressFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>IFA_F_SECONDARY (IFA_F_TEMPORARY for IPv6).</summary>
    Secondary = 0x01,
    /// <summary>IFA_F_NODAD.</summary>
    NoDad = 0x02,
    /// <summary>IFA_F_OPTIMISTIC.</summary>
    Optimistic = 0x04,
    /// <summary>IFA_F_DADFAILED.</summary>
    DadFailed = 0x08,
    /// <summary>IFA_F_HOMEADDRESS.</summary>
    HomeAddress = 0x10,
    /// <summary>IFA_F_DEPRECATED.</summary>
    Deprecated = 0x20,
    /// <summary>IFA_F_TENTATIVE: IPv6 DAD still running.</summary>
    Tentative = 0x40,
    /// <summary>IFA_F_PERMANENT.</summary>
    Permanent = 0x80,
    /// <summary>IFA_F_MANAGETEMPADDR.</summary>
    ManageTempAddr = 0x100,
    /// <summary>IFA_F_NOPREFIXROUTE.</summary>
    NoPrefixRoute = 0x200,
    /// <summary>IFA_F_MCAUTOJOIN.</summary>
    McAutoJoin = 0x400,
    /// <summary>IFA_F_STABLE_PRIVACY.</summary>
    StablePrivacy = 0x800,
}
