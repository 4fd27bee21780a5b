using System.Net;
using System.Security.Cryptography;
using System.Text;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// What a <see cref="NodeVeth"/> wires: the pod's end (<see cref="PodIfName"/> in the pod, its
/// <see cref="PodIp"/> as a /32) and the node's end (<see cref="HostName"/>), and which
/// destinations the pod reaches through the node (<see cref="ViaNode"/>: 0.0.0.0/0 for a pod
/// whose only interface this is, the node's own addresses for a pod that has an ENI of its own).
/// </summary>
public sealed record NodeVethSpec(string HostName, string PodIfName, IPAddress PodIp, IReadOnlyList<IpPrefix> ViaNode, int? Mtu = null);

/// <summary>
/// The veth pair between the node and a pod, wired without a bridge, as Calico and AWS VPC CNI
/// wire it (DESIGN.md §3, shared mode; underlay's small pair for kubelet probes and node-local
/// services): the pod's end carries the pod's IP as a /32 and reaches everything through a
/// link-local gateway, <see cref="Gateway"/>, whose MAC is the node end's, written as a permanent
/// neighbour so the pod never ARPs for it; the node reaches the pod by a host route
/// <c>podIP/32 dev HOST</c>. One crossing of the node's stack, no bridge to learn MACs.
/// </summary>
/// <remarks>
/// The pair is created with its pod end already in the pod's namespace (IFLA_NET_NS_FD on the
/// peer): ≈ 1 ms, where creating it on the node and moving the end costs a netns move (≈ 22 ms,
/// an RCU barrier under RTNL). Deleting it costs ≈ 20 ms in the kernel (the veth's
/// synchronize_net): callers on a pod's critical path leave that to a background teardown.
/// </remarks>
public static class NodeVeth
{
    /// <summary>The pod's next hop for everything through the node (RFC 3927 link-local; Calico's choice too).</summary>
    public static readonly IPAddress Gateway = IPAddress.Parse("169.254.1.1");

    /// <summary>
    /// The node end's name for an attachment: "fth" and 11 hex digits of a hash of the container
    /// id and ifname — stable (a DEL or a restarted agent finds it again), within IFNAMSIZ, and
    /// never one a person would type.
    /// </summary>
    public static string HostNameFor(string containerId, string ifName)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"{containerId}/{ifName}"), hash);
        return "fth" + Convert.ToHexStringLower(hash)[..11];
    }

    /// <summary>
    /// The node end's name for the small veth of an underlay pod: "fth" and 11 hex digits of a hash
    /// of the ENI's MAC. A function of the ENI, not of the container, so that whoever gives the ENI
    /// back (the agent's teardown, knowing the ENI but not the container) deletes the right pair,
    /// and an ADD of the same ENI, which waits for that teardown, never meets a stale one.
    /// </summary>
    public static string HostNameForEni(string mac)
    {
        ArgumentNullException.ThrowIfNull(mac);
        return HostNameFor("eni", mac.ToLowerInvariant());
    }

    /// <summary>
    /// Creates and wires the pair. On any failure the pair is deleted again (deleting the node
    /// end takes the pod end with it) and the error is a <see cref="CniException"/>: 103 when
    /// the pod already has <see cref="NodeVethSpec.PodIfName"/>, 104 for any other refusal.
    /// Returns the pod's end.
    /// </summary>
    public static Link Create(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, NodeVethSpec spec)
    {
        if (KernelCall.Run($"look up {spec.PodIfName} in the pod", () => podLinks.TryGetLink(spec.PodIfName, out _)))
            throw new CniException(DatapathErrorCodes.IfNameExists, $"interface \"{spec.PodIfName}\" already exists in the pod's netns");
        var options = new VethOptions { Mtu = spec.Mtu };
        var node = KernelCall.Run($"create veth {spec.HostName} with {spec.PodIfName} in the pod",
            () => host.CreateVeth(spec.HostName, spec.PodIfName, pod, options));
        try
        {
            return Wire(host, podLinks, node, spec);
        }
        catch
        {
            host.TryDeleteLink(spec.HostName);
            throw;
        }
    }

    private static Link Wire(NetlinkHandle host, NetlinkHandle podLinks, Link node, NodeVethSpec spec)
    {
        var podAddress = new IpPrefix(spec.PodIp, 32);
        var inPod = KernelCall.Run($"look up {spec.PodIfName} in the pod", () => podLinks.GetLink(spec.PodIfName));
        KernelCall.Run($"set {spec.PodIfName} up in the pod", () => podLinks.SetLinkUp(inPod.Index));
        KernelCall.Run($"add address {podAddress} to {spec.PodIfName}", () => podLinks.AddAddress(inPod.Index, podAddress, new AddressOptions()));
        KernelCall.Run($"add the neighbour {Gateway} (the node) on {spec.PodIfName}", () => podLinks.ReplaceNeighbor(new Neighbor
        {
            Index = inPod.Index,
            Ip = Gateway,
            Mac = node.Mac,
        }));
        KernelCall.Run($"add route {Gateway} dev {spec.PodIfName}", () => podLinks.AddRoute(new Route
        {
            Destination = new IpPrefix(Gateway, 32),
            OutputIndex = inPod.Index,
            Scope = RouteScope.Link,
        }));
        foreach (var destination in spec.ViaNode)
            KernelCall.Run($"add route {destination} via {Gateway} dev {spec.PodIfName}", () => podLinks.AddRoute(new Route
            {
                Destination = destination.PrefixLength == 0 ? null : destination,
                Family = System.Net.Sockets.AddressFamily.InterNetwork,
                Gateway = Gateway,
                OutputIndex = inPod.Index,
                OnLink = true,
            }));

        KernelCall.Run($"set {spec.HostName} up", () => host.SetLinkUp(node.Index));
        KernelCall.Run($"add route {podAddress} dev {spec.HostName}", () => host.ReplaceRoute(new Route
        {
            Destination = podAddress,
            OutputIndex = node.Index,
            Scope = RouteScope.Link,
        }));
        return podLinks.GetLink(inPod.Index);
    }

    /// <summary>
    /// CHECK: the node end exists and is up, the host route to the pod points at it, and the pod's
    /// end has the address; a <see cref="CniException"/> 107 names what drifted.
    /// </summary>
    public static void Verify(NetlinkHandle host, NetlinkHandle podLinks, NodeVethSpec spec)
    {
        if (KernelCall.Run($"look up {spec.HostName}", () => host.TryGetLink(spec.HostName, out var n) ? n : null) is not { } node)
            throw new CniException(CniErrorCode.CheckFailed, $"the node's end of the pod's veth, \"{spec.HostName}\", is missing");
        if (!node.IsUp)
            throw new CniException(CniErrorCode.CheckFailed, $"the node's end of the pod's veth, \"{spec.HostName}\", is down");
        var routes = KernelCall.Run("list the node's routes", () => host.ListRoutes(System.Net.Sockets.AddressFamily.InterNetwork));
        var podAddress = new IpPrefix(spec.PodIp, 32);
        if (!routes.Any(r => r.Destination is { } d && d.Equals(podAddress) && r.OutputIndex == node.Index))
            throw new CniException(CniErrorCode.CheckFailed, $"the node has no route {podAddress} dev {spec.HostName}");
        if (KernelCall.Run($"look up {spec.PodIfName} in the pod", () => podLinks.TryGetLink(spec.PodIfName, out var p) ? p : null) is not { } inPod)
            throw new CniException(CniErrorCode.CheckFailed, $"interface \"{spec.PodIfName}\" is missing from the pod");
        var addresses = KernelCall.Run($"list addresses of {spec.PodIfName}", () => podLinks.ListAddresses(index: inPod.Index));
        if (!addresses.Any(a => a.Prefix.Equals(podAddress)))
            throw new CniException(CniErrorCode.CheckFailed, $"address {podAddress} is missing from \"{spec.PodIfName}\"");
    }

    /// <summary>
    /// Deletes the pair by its node end (≈ 20 ms in the kernel; the pod end and the host route go
    /// with it). False when it is already gone: teardown is idempotent.
    /// </summary>
    public static bool TryDelete(NetlinkHandle host, string hostName) =>
        KernelCall.Run($"delete veth {hostName}", () => host.TryDeleteLink(hostName));
}
