using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// The node as its peers see it on the fabric: its name in the leases, the address their routes
/// (host-gw) or tunnels (overlay) point at, and the fabric device (the VXLAN device's underlying
/// link, whose MTU the pods' MTU derives from).
/// </summary>
public sealed record NodeFabric(string NodeName, IPAddress NodeIp, int DeviceIndex, string DeviceName, int Mtu, PhysicalAddress? Mac = null)
{
    /// <summary>
    /// Resolves what the config leaves out from the kernel: the device of the default route, its
    /// first IPv4 address. Throws <see cref="InvalidOperationException"/> naming what is missing.
    /// </summary>
    public static NodeFabric Resolve(NetlinkHandle node, string nodeName, string? device, string? nodeIp)
    {
        Link link;
        if (device is not null)
        {
            link = node.TryGetLink(device, out var named) ? named
                : throw new InvalidOperationException($"subnets.fabricDevice '{device}' does not exist on this node");
        }
        else
        {
            var route = node.ListRoutes(AddressFamily.InterNetwork).FirstOrDefault(r => r.Destination is null && r.OutputIndex is > 0)
                ?? throw new InvalidOperationException("the node has no IPv4 default route to find its fabric device by: set subnets.fabricDevice");
            link = node.GetLink(route.OutputIndex!.Value);
        }
        var ip = nodeIp is not null ? IPAddress.Parse(nodeIp)
            : node.ListAddresses(AddressFamily.InterNetwork, link.Index).Select(a => a.Prefix.Address).FirstOrDefault()
              ?? throw new InvalidOperationException($"{link.Name} has no IPv4 address to publish as the node's: set subnets.nodeIp");
        return new NodeFabric(nodeName, ip, link.Index, link.Name, link.Mtu, link.Mac);
    }

    /// <summary>
    /// The VTEP's MAC: a function of the node's address, <c>0e:fa:a.b.c.d</c> (<see cref="PodRedirect.VtepMac"/>),
    /// so a restarted agent, or one whose device was deleted, publishes the same MAC and peers' FDB
    /// entries stay right, and the tc BPF pod path of a peer can wrap packets for this node by the MAC
    /// alone. A node on an IPv6 fabric: a hash of its name and the VNI (locally administered, unicast).
    /// </summary>
    public PhysicalAddress VtepMac(int vni)
    {
        if (NodeIp.AddressFamily == AddressFamily.InterNetwork) return PodRedirect.VtepMac(NodeIp);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"fathom-vtep/{NodeName}/{vni}"));
        var mac = hash[..6];
        mac[0] = (byte)((mac[0] & 0xFC) | 0x02);
        return new PhysicalAddress(mac);
    }
}
