using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Netlink;

/// <summary>Optional settings for <see cref="NetlinkHandle.CreateVeth"/>.</summary>
public sealed record VethOptions
{
    /// <summary>MTU of both ends (IFLA_MTU on each); the kernel default (1500) when null.</summary>
    public int? Mtu { get; init; }

    /// <summary>MAC of the local end; random when null.</summary>
    public PhysicalAddress? Mac { get; init; }

    /// <summary>MAC of the peer end; random when null.</summary>
    public PhysicalAddress? PeerMac { get; init; }

    /// <summary>
    /// TX and RX queues of each end (IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES on each); the kernel's
    /// default when null, one of each per possible CPU (drivers/net/veth.c veth_get_num_queues).
    /// Every queue is a kobject with its sysfs files, made when the pair is created.
    /// </summary>
    public int? Queues { get; init; }

    /// <summary>
    /// The local end created up (IFF_UP in its ifinfomsg, applied by rtnl_configure_link once the
    /// pair is linked): one request under RTNL fewer than setting it up afterwards. Only the local
    /// end: the peer is configured before the pair is linked, and veth_open refuses to open an
    /// end without its peer (ENOTCONN, drivers/net/veth.c).
    /// </summary>
    public bool Up { get; init; }
}

/// <summary>Optional settings for <see cref="NetlinkHandle.CreateBridge"/>.</summary>
public sealed record BridgeOptions
{
    /// <summary>IFLA_MTU; the kernel default when null.</summary>
    public int? Mtu { get; init; }

    /// <summary>IFLA_ADDRESS; when null the bridge takes the lowest MAC of its ports.</summary>
    public PhysicalAddress? Mac { get; init; }
}

/// <summary>Settings for <see cref="NetlinkHandle.CreateVxlan"/> (IFLA_VXLAN_*).</summary>
public sealed record VxlanOptions
{
    /// <summary>The VXLAN network identifier (24 bits).</summary>
    public required int Vni { get; init; }

    /// <summary>IFLA_VXLAN_LOCAL(6): the source address of encapsulated packets; null lets the kernel pick.</summary>
    public IPAddress? Local { get; init; }

    /// <summary>IFLA_VXLAN_LINK: the device the underlay traffic leaves through.</summary>
    public int? UnderlyingIndex { get; init; }

    /// <summary>IFLA_VXLAN_PORT: the UDP destination port, IANA's 4789 by default (the kernel's own default is 8472).</summary>
    public int DstPort { get; init; } = 4789;

    /// <summary>IFLA_VXLAN_LEARNING: off by default, since Fathom programs the FDB itself.</summary>
    public bool Learning { get; init; }

    /// <summary>IFLA_MTU; the kernel derives it from the underlying device when null.</summary>
    public int? Mtu { get; init; }

    /// <summary>IFLA_ADDRESS: the VTEP MAC; random when null.</summary>
    public PhysicalAddress? Mac { get; init; }
}
