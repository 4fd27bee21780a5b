using System.Net;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// The kernel half of a host-gw or overlay pod (DESIGN.md §3): its address of the node's subnet as a
/// /32 behind a <see cref="NodeVeth"/>, the default route via the link-local gateway, the pod's MTU
/// (the fabric's, or 50 less through VXLAN); and CHECK of it against prevResult.
/// </summary>
public static class SubnetPod
{
    /// <summary>
    /// Creates and wires the veth; returns the CNI result. The agent's address is the IPAM; a config
    /// with an <c>ipam</c> section too gets its addresses and routes on the same interface
    /// (<paramref name="allocate"/>), as the agent-backed modes do. The caller has looked for
    /// <paramref name="ifName"/> in the pod (<see cref="NodeVeth.ThrowIfPodHas"/>) before allocating,
    /// and deletes the veth on failure. <paramref name="early"/>: the pair made while the agent
    /// allocated (<see cref="NodeVeth.TryCreateEarly"/>) under <paramref name="hostVeth"/>, wired as
    /// it is (<see cref="NodeVeth.CreateOrWireEarly"/>).
    /// </summary>
    public static CniResult Wire(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, string netnsPath, string ifName,
        IPAddress ip, string hostVeth, int mtu, Func<CniResult?> allocate, Link? early = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(allocate);
        var spec = new NodeVethSpec(hostVeth, ifName, ip, [new IpPrefix(IPAddress.Any, 0)], mtu);
        var (node, link) = NodeVeth.CreateOrWireEarly(host, pod, podLinks, early, spec);
        var result = Result(link, node.Mac, netnsPath, ifName, ip, hostVeth);
        if (allocate() is { } ipam)
        {
            PodAddressing.Apply(podLinks, link.Index, ifName, ipam);
            result.Ips.AddRange(ipam.Ips.Select(a => a with { Interface = 0 }));
            result.Routes.AddRange(ipam.Routes);
        }
        return result;
    }

    private static CniResult Result(Link link, System.Net.NetworkInformation.PhysicalAddress? hostMac, string netnsPath, string ifName, IPAddress ip, string hostVeth) =>
        new()
        {
            Interfaces =
            [
                new CniInterface(ifName, link.Mac is null ? null : InterfaceNames.FormatMac(link.Mac), Mtu: link.Mtu, Sandbox: netnsPath),
                new CniInterface(hostVeth, hostMac is null ? null : InterfaceNames.FormatMac(hostMac)),
            ],
            Ips = [new CniIpConfig(new IpPrefix(ip, 32), NodeVeth.Gateway, Interface: 0)],
            Routes = [new CniRoute(new IpPrefix(IPAddress.Any, 0), NodeVeth.Gateway)],
        };

    /// <summary>CHECK: the veth prevResult names is there, up, routed to, and the pod's end has the address (107 otherwise).</summary>
    public static void Verify(CniRequest request, CniResult prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(prevResult);
        var netnsPath = request.NetnsPath ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for CHECK");
        var inPod = prevResult.Interfaces.FindIndex(i => i.Name == request.IfName && i.Sandbox == netnsPath);
        if (inPod < 0)
            throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no interface \"{request.IfName}\" in sandbox {netnsPath}");
        var onNode = prevResult.Interfaces.FirstOrDefault(i => i.Sandbox is null)
            ?? throw new CniException(CniErrorCode.CheckFailed, "prevResult names no interface on the node (the pod's veth)");
        var ip = prevResult.Ips.FirstOrDefault(i => i.Interface == inPod)?.Address.Address
            ?? throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no address on \"{request.IfName}\"");
        using var pod = PodNetns.Open(netnsPath);
        using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
        using var podLinks = PodNetns.OpenLinks(pod);
        NodeVeth.Verify(host, podLinks, new NodeVethSpec(onNode.Name, request.IfName, ip, []));
    }
}
