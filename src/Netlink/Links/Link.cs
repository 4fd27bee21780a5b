using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Netlink;

/// <summary>
/// A network interface as the kernel reports it in <c>RTM_NEWLINK</c> (struct ifinfomsg plus
/// IFLA_* attributes, include/uapi/linux/if_link.h).
/// </summary>
public sealed record Link
{
    /// <summary>The ifindex, unique within the link's network namespace.</summary>
    public required int Index { get; init; }

    /// <summary>IFLA_IFNAME.</summary>
    public required string Name { get; init; }

    /// <summary>IFLA_INFO_KIND: "veth", "bridge", "vxlan", "macvlan", ..., or null for a plain device (lo, a NIC).</summary>
    public string? Kind { get; init; }

    /// <summary>IFLA_INFO_SLAVE_KIND: "bridge" when the link is a bridge port, else null.</summary>
    public string? SlaveKind { get; init; }

    /// <summary>ifi_flags (IFF_*).</summary>
    public LinkFlags Flags { get; init; }

    /// <summary>True when administratively up (IFF_UP).</summary>
    public bool IsUp => (Flags & LinkFlags.Up) != 0;

    /// <summary>IFLA_OPERSTATE (RFC 2863).</summary>
    public OperState OperState { get; init; }

    /// <summary>IFLA_ADDRESS, or null for devices without a hardware address.</summary>
    public PhysicalAddress? Mac { get; init; }

    /// <summary>IFLA_MTU.</summary>
    public int Mtu { get; init; }

    /// <summary>IFLA_IFALIAS, or null when unset.</summary>
    public string? Alias { get; init; }

    /// <summary>IFLA_MASTER: the ifindex of the bridge (or bond) this link is enslaved to.</summary>
    public int? MasterIndex { get; init; }

    /// <summary>
    /// IFLA_LINK: for a veth the peer's ifindex (in the peer's namespace, see <see cref="PeerNetnsId"/>);
    /// for a macvlan its parent. Null when the kernel does not report one.
    /// </summary>
    public int? PeerIndex { get; init; }

    /// <summary>
    /// IFLA_LINK_NETNSID: the id, in this link's namespace, of the namespace holding the peer
    /// (or parent); null when both are in the same namespace.
    /// </summary>
    public int? PeerNetnsId { get; init; }

    /// <summary>The VXLAN parameters (IFLA_INFO_DATA) when <see cref="Kind"/> is "vxlan".</summary>
    public VxlanInfo? Vxlan { get; init; }

    /// <summary>IFLA_MACVLAN_MODE when <see cref="Kind"/> is "macvlan".</summary>
    public MacvlanMode? MacvlanMode { get; init; }
}

/// <summary>VXLAN parameters as read back from the kernel (drivers/net/vxlan/vxlan_core.c vxlan_fill_info).</summary>
public sealed record VxlanInfo
{
    /// <summary>IFLA_VXLAN_ID.</summary>
    public int Vni { get; init; }

    /// <summary>IFLA_VXLAN_LOCAL or IFLA_VXLAN_LOCAL6, null when unset.</summary>
    public IPAddress? Local { get; init; }

    /// <summary>IFLA_VXLAN_GROUP(6): the default remote (multicast group or unicast peer), null when unset.</summary>
    public IPAddress? Group { get; init; }

    /// <summary>IFLA_VXLAN_LINK: the underlying device's ifindex, null when unset.</summary>
    public int? UnderlyingIndex { get; init; }

    /// <summary>IFLA_VXLAN_PORT: the UDP destination port.</summary>
    public int DstPort { get; init; }

    /// <summary>IFLA_VXLAN_LEARNING.</summary>
    public bool Learning { get; init; }
}

/// <summary>Interface flags (IFF_*, include/uapi/linux/if.h).</summary>
[Flags]
public enum LinkFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>IFF_UP: administratively up.</summary>
    Up = 0x1,
    /// <summary>IFF_BROADCAST.</summary>
    Broadcast = 0x2,
    /// <summary>IFF_DEBUG.</summary>
    Debug = 0x4,
    /// <summary>IFF_LOOPBACK.</summary>
    Loopback = 0x8,
    /// <summary>IFF_POINTOPOINT.</summary>
    PointToPoint = 0x10,
    /// <summary>IFF_NOTRAILERS.</summary>
    NoTrailers = 0x20,
    /// <summary>IFF_RUNNING: operationally up (RFC 2863 "up").</summary>
    Running = 0x40,
    /// <summary>IFF_NOARP.</summary>
    NoArp = 0x80,
    /// <summary>IFF_PROMISC.</summary>
    Promisc = 0x100,
    /// <summary>IFF_ALLMULTI.</summary>
    AllMulti = 0x200,
    /// <summary>IFF_MASTER.</summary>
    Master = 0x400,
    /// <summary>IFF_SLAVE.</summary>
    Slave = 0x800,
    /// <summary>IFF_MULTICAST.</summary>
    Multicast = 0x1000,
    /// <summary>IFF_PORTSEL.</summary>
    PortSel = 0x2000,
    /// <summary>IFF_AUTOMEDIA.</summary>
    AutoMedia = 0x4000,
    /// <summary>IFF_DYNAMIC.</summary>
    Dynamic = 0x8000,
    /// <summary>IFF_LOWER_UP: the carrier is present.</summary>
    LowerUp = 0x10000,
    /// <summary>IFF_DORMANT.</summary>
    Dormant = 0x20000,
    /// <summary>IFF_ECHO.</summary>
    Echo = 0x40000,
}

/// <summary>IFLA_OPERSTATE values (IF_OPER_*, include/uapi/linux/if.h; RFC 2863).</summary>
public enum OperState : byte
{
    /// <summary>IF_OPER_UNKNOWN (loopback and many virtual devices report this while working).</summary>
    Unknown = 0,
    /// <summary>IF_OPER_NOTPRESENT.</summary>
    NotPresent = 1,
    /// <summary>IF_OPER_DOWN.</summary>
    Down = 2,
    /// <summary>IF_OPER_LOWERLAYERDOWN: e.g. a veth whose peer is down.</summary>
    LowerLayerDown = 3,
    /// <summary>IF_OPER_TESTING.</summary>
    Testing = 4,
    /// <summary>IF_OPER_DORMANT.</summary>
    Dormant = 5,
    /// <summary>IF_OPER_UP.</summary>
    Up = 6,
}

/// <summary>macvlan modes (MACVLAN_MODE_*, include/uapi/linux/if_link.h).</summary>
public enum MacvlanMode
{
    /// <summary>MACVLAN_MODE_PRIVATE: no traffic between macvlans of one parent.</summary>
    Private = 1,
    /// <summary>MACVLAN_MODE_VEPA: traffic between macvlans goes through the external switch.</summary>
    Vepa = 2,
    /// <summary>MACVLAN_MODE_BRIDGE: macvlans of one parent talk directly.</summary>
    Bridge = 4,
    /// <summary>MACVLAN_MODE_PASSTHRU: one macvlan takes over the parent.</summary>
    Passthru = 8,
    /// <summary>MACVLAN_MODE_SOURCE: by source MAC.</summary>
    Source = 16,
}
