using System.Net;
using System.Net.NetworkInformation;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// Another node's pod subnet, as its lease in the cluster datastore says (DESIGN.md §7): the
/// subnet, the node's IP on the fabric, and for overlay its VTEP's MAC. The host-gw and overlay
/// route programmers take the set of these and make the kernel match it.
/// </summary>
/// <param name="Subnet">The peer's pod subnet.</param>
/// <param name="NodeIp">The peer's address on the fabric.</param>
/// <param name="VtepMac">Overlay: the peer's VTEP MAC.</param>
/// <param name="NodeMac">host-gw: the peer's fabric MAC, pinned as the node IP's neighbour (null: left to ARP).</param>
public sealed record PeerSubnet(IpPrefix Subnet, IPAddress NodeIp, PhysicalAddress? VtepMac = null, PhysicalAddress? NodeMac = null);

/// <summary>How Fathom marks the kernel objects it programs, so a reconcile removes its own and nobody else's.</summary>
public static class FathomRoutes
{
    /// <summary>
    /// The route protocol (RTPROT_*) of every route Fathom's programmers install: `ip route show
    /// proto 95` lists them. Not one of iproute2's named protocols (rt_protos: 42 babel, 186–192
    /// routing daemons), nor Calico's 80.
    /// </summary>
    public const RouteProtocol Protocol = (RouteProtocol)95;
}
