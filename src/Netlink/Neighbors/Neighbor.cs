using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Netlink;

/// <summary>
/// A neighbour (ARP/NDP) entry (struct ndmsg + NDA_*, include/uapi/linux/neighbour.h), as
/// <c>ip neigh</c> shows it.
/// </summary>
public sealed record Neighbor
{
    /// <summary>ndm_ifindex: the link the neighbour is on.</summary>
    public required int Index { get; init; }

    /// <summary>NDA_DST: the neighbour's IP address.</summary>
    public required IPAddress Ip { get; init; }

    /// <summary>NDA_LLADDR: its MAC; null for incomplete or failed entries.</summary>
    public PhysicalAddress? Mac { get; init; }

    /// <summary>ndm_state (NUD_*); permanent by default.</summary>
    public NeighborState State { get; init; } = NeighborState.Permanent;

    /// <summary>ndm_flags (NTF_*).</summary>
    public NeighborFlags Flags { get; init; }

    /// <summary>
    /// NDA_PROTOCOL: who installed the entry, as a route's protocol says it (<c>ip neigh ... proto N</c>);
    /// null when unset. The kernel keeps it and never acts on it: a mark to find one's own entries by.
    /// </summary>
    public RouteProtocol? Protocol { get; init; }
}

/// <summary>
/// A bridge or VXLAN forwarding-database entry (AF_BRIDGE neighbour), as <c>bridge fdb</c>
/// shows it. For VXLAN: <c>Mac</c> → remote VTEP <c>Destination</c> with <c>Self</c>.
/// </summary>
public sealed record FdbEntry
{
    /// <summary>ndm_ifindex: the port (or VXLAN device) the entry belongs to.</summary>
    public required int Index { get; init; }

    /// <summary>NDA_LLADDR: the MAC; all zeros is VXLAN's default (flood) destination.</summary>
    public required PhysicalAddress Mac { get; init; }

    /// <summary>NDA_DST: the remote VTEP's IP (VXLAN), null for a plain bridge entry.</summary>
    public IPAddress? Destination { get; init; }

    /// <summary>NTF_SELF: the entry lives in the device's own table (VXLAN's), which is the default.</summary>
    public bool Self { get; init; } = true;

    /// <summary>NTF_MASTER: the entry lives in the master bridge's table.</summary>
    public bool Master { get; init; }

    /// <summary>NUD_PERMANENT (no ageing); true by default. False means NUD_REACHABLE (dynamic).</summary>
    public bool Permanent { get; init; } = true;

    /// <summary>NDA_VLAN, null when unset.</summary>
    public int? Vlan { get; init; }

    /// <summary>NDA_VNI, null when unset (VXLAN uses the device's VNI).</summary>
    public int? Vni { get; init; }

    /// <summary>NDA_MASTER as reported by the kernel: the bridge the port belongs to.</summary>
    public int? MasterIndex { get; init; }

    /// <summary>The raw ndm_state as reported by the kernel (NUD_*), for inspection.</summary>
    public NeighborState State { get; init; }
}

/// <summary>Neighbour states (NUD_*, include/uapi/linux/neighbour.h).</summary>
[Flags]
public enum NeighborState : ushort
{
    /// <summary>NUD_NONE.</summary>
    None = 0,
    /// <summary>NUD_INCOMPLETE.</summary>
    Incomplete = 0x01,
    /// <summary>NUD_REACHABLE.</summary>
    Reachable = 0x02,
    /// <summary>NUD_STALE.</summary>
    Stale = 0x04,
    /// <summary>NUD_DELAY.</summary>
    Delay = 0x08,
    /// <summary>NUD_PROBE.</summary>
    Probe = 0x10,
    /// <summary>NUD_FAILED.</summary>
    Failed = 0x20,
    /// <summary>NUD_NOARP.</summary>
    NoArp = 0x40,
    /// <summary>NUD_PERMANENT: never expires.</summary>
    Permanent = 0x80,
}

/// <summary>Neighbour flags (NTF_*, include/uapi/linux/neighbour.h).</summary>
[Flags]
public enum NeighborFlags : byte
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>NTF_USE.</summary>
    Use = 0x01,
    /// <summary>NTF_SELF.</summary>
    Self = 0x02,
    /// <summary>NTF_MASTER.</summary>
    Master = 0x04,
    /// <summary>NTF_PROXY.</summary>
    Proxy = 0x08,
    /// <summary>NTF_EXT_LEARNED.</summary>
    ExtLearned = 0x10,
    /// <summary>NTF_OFFLOADED.</summary>
    Offloaded = 0x20,
    /// <summary>NTF_STICKY.</summary>
    Sticky = 0x40,
    /// <summary>NTF_ROUTER.</summary>
    Router = 0x80,
}
