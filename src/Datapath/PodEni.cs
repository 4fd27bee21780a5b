using System.Net;
using System.Net.NetworkInformation;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// A whole ENI given to one pod (DESIGN.md §3, underlay): which host device, what it keeps (MAC,
/// MTU), the pod's address on it, the subnet's gateway, and what the pod reaches through its small
/// veth to the node instead (<see cref="NodeRoutes"/>: the node's own addresses).
/// </summary>
/// <param name="HostDevice">The ENI's name on the node (<c>eth2</c>); it goes back under this name.</param>
/// <param name="Mac">The ENI's MAC: the device is found by it wherever it is and whatever it is called.</param>
/// <param name="Mtu">The ENI's MTU, kept in the pod.</param>
/// <param name="Address">The pod's address with the subnet's prefix length.</param>
/// <param name="Gateway">The subnet's gateway: the pod's default route.</param>
/// <param name="NodeRoutes">Destinations routed through the node veth.</param>
public sealed record PodEni(string HostDevice, PhysicalAddress Mac, int Mtu, IpPrefix Address, IPAddress Gateway,
    IReadOnlyList<IpPrefix> NodeRoutes)
{
    /// <summary>The pod's end of its veth to the node: a fixed name, so CHECK and people find it.</summary>
    public const string NodeVethPodName = "veth-node";

    /// <summary>The node's end of the pod's veth (<see cref="NodeVeth.HostNameForEni"/>).</summary>
    public string NodeVethHostName => NodeVeth.HostNameForEni(InterfaceNames.FormatMac(Mac));

    /// <summary>The pod's small veth to the node.</summary>
    public NodeVethSpec NodeVethSpec => new(NodeVethHostName, NodeVethPodName, Address.Address, NodeRoutes);
}

/// <summary>
/// The kernel side of a pod holding a whole ENI, as the agent-backed datapath needs it. Implemented
/// by the underlay mode (<c>Fathom.Datapath.Underlay.UnderlayEni</c>); the agent-backed datapath
/// gets it from the plugin's mode table, so no mode depends on another.
/// </summary>
public interface IEniWiring
{
    /// <summary>
    /// ADD: moves the ENI into the pod as <paramref name="ifName"/>, addresses it, routes the default
    /// via its gateway, wires the node veth, then runs <paramref name="complete"/> with the result
    /// (its interfaces, IPs and routes; the caller may add to it and records it there). On any
    /// failure — the wiring's or <paramref name="complete"/>'s — the node is put back as it was
    /// (the ENI with its name, alias and up state, no node veth) before the
    /// <see cref="CniException"/> is thrown, its message saying so.
    /// </summary>
    CniResult Attach(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, string netnsPath, PodEni eni, string ifName,
        Action<CniResult> complete);

    /// <summary>
    /// Undo of <see cref="Attach"/>, idempotent — also the agent's teardown of the ENI: the node veth
    /// (<see cref="NodeVeth.HostNameForEni"/> of <paramref name="mac"/>) deleted, the ENI back on the
    /// node as <paramref name="hostDevice"/>, left down (found by MAC in the pod; already back, back
    /// from the kernel under another name, or gone with a deleted netns, are all handled).
    /// <paramref name="pod"/> is null when the pod's netns no longer exists.
    /// </summary>
    void Return(NetnsHandle node, NetnsHandle? pod, string hostDevice, PhysicalAddress mac);

    /// <summary>CHECK: the ENI in the pod (name, MAC, up, addresses and routes of <paramref name="prevResult"/>) and the node veth; 107 names what drifted.</summary>
    void Verify(NetlinkHandle host, NetlinkHandle podLinks, string netnsPath, string ifName, CniResult prevResult);
}
