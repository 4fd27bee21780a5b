using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Fathom.Netlink;

namespace Fathom.Datapath.Overlay;

/// <summary>The node's VTEP: its VXLAN device's settings (DESIGN.md §3, overlay).</summary>
/// <param name="Name">The device's name (e.g. <c>fathom.1</c>).</param>
/// <param name="Vni">The VXLAN network identifier.</param>
/// <param name="LocalIp">The node's IP on the fabric: the outer source address.</param>
/// <param name="Underlying">The fabric device's index (the node's primary interface).</param>
/// <param name="FabricMtu">The fabric's MTU; the device's is 50 less (outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).</param>
/// <param name="LocalSubnet">The node's own pod subnet: the device carries its network address as a /32, flannel's scheme.</param>
/// <param name="Port">The UDP port (IANA 4789).</param>
public sealed record VtepSpec(string Name, int Vni, IPAddress LocalIp, int Underlying, int FabricMtu, IpPrefix LocalSubnet, int Port = 4789)
{
    /// <summary>The MTU of the VXLAN device and of the pods behind it.</summary>
    public int Mtu => FabricMtu - VxlanOverlay.Overhead;
}

/// <summary>
/// The overlay's kernel state, as flannel's vxlan backend keeps it: one VXLAN device per node
/// (learning off: Fathom programs the forwarding itself), and for every remote node's lease
/// <list type="bullet">
/// <item>an on-link route <c>10.244.2.0/24 via 10.244.2.0 dev fathom.1 onlink</c>,</item>
/// <item>a permanent neighbour <c>10.244.2.0 lladdr VTEP_MAC dev fathom.1</c>,</item>
/// <item>a permanent FDB entry <c>VTEP_MAC dst NODE_IP dev fathom.1 self</c>.</item>
/// </list>
/// No multicast, no ARP or unknown-destination flooding across the fabric.
/// </summary>
public static class VxlanOverlay
{
    /// <summary>Bytes VXLAN adds to a frame over IPv4.</summary>
    public const int Overhead = 50;

    /// <summary>Creates the node's VXLAN device, or corrects one left by an earlier run; brings it up. Returns it.</summary>
    public static Link EnsureDevice(NetlinkHandle host, VtepSpec spec, PhysicalAddress? mac = null)
    {
        if (host.TryGetLink(spec.Name, out var existing))
        {
            var v = existing.Vxlan;
            // Its MAC too: peers reach it by the one its lease publishes (an older agent's scheme differed).
            var fits = v is not null && v.Vni == spec.Vni && Equals(v.Local, spec.LocalIp) && v.DstPort == spec.Port && !v.Learning
                && (mac is null || mac.Equals(existing.Mac));
            if (!fits)
            {
                KernelCall.Run($"delete {spec.Name}, whose settings changed", () => host.DeleteLink(existing.Index));
                existing = null;
            }
        }
        var link = existing ?? KernelCall.Run($"create VXLAN device {spec.Name} (vni {spec.Vni})", () => host.CreateVxlan(spec.Name, new VxlanOptions
        {
            Vni = spec.Vni,
            Local = spec.LocalIp,
            UnderlyingIndex = spec.Underlying,
            DstPort = spec.Port,
            Learning = false,
            Mtu = spec.Mtu,
            Mac = mac,
        }));
        if (link.Mtu != spec.Mtu) KernelCall.Run($"set {spec.Name} mtu {spec.Mtu}", () => host.SetLinkMtu(link.Index, spec.Mtu));
        var address = new IpPrefix(spec.LocalSubnet.Network.Address, 32);
        if (!host.ListAddresses(index: link.Index).Any(a => a.Prefix.Equals(address)))
            KernelCall.Run($"add {address} to {spec.Name}", () => host.AddAddress(link.Index, address, new AddressOptions()));
        KernelCall.Run($"set {spec.Name} up", () => host.SetLinkUp(link.Index));
        return host.GetLink(link.Index);
    }

    /// <summary>Makes the device's routes, neighbours and FDB entries exactly those of <paramref name="peers"/>.</summary>
    public static (int Added, int Removed) Reconcile(NetlinkHandle host, Link vtep, IReadOnlyCollection<PeerSubnet> peers)
    {
        var missingMac = peers.FirstOrDefault(p => p.VtepMac is null);
        if (missingMac is not null)
            throw new ArgumentException($"the lease of {missingMac.Subnet} carries no VTEP MAC", nameof(peers));
        int added = 0, removed = 0;
        foreach (var peer in peers)
        {
            var gateway = peer.Subnet.Network.Address;
            KernelCall.Run($"add the neighbour {gateway} (VTEP of {peer.NodeIp})", () => host.ReplaceNeighbor(new Neighbor
            {
                Index = vtep.Index,
                Ip = gateway,
                Mac = peer.VtepMac,
            }));
            KernelCall.Run($"add the FDB entry of {peer.NodeIp}", () => host.ReplaceFdb(new FdbEntry
            {
                Index = vtep.Index,
                Mac = peer.VtepMac!,
                Destination = peer.NodeIp,
            }));
            KernelCall.Run($"route {peer.Subnet} via {gateway} dev {vtep.Name} onlink", () => host.ReplaceRoute(RouteOf(peer, vtep)));
            added++;
        }

        var wanted = peers.Select(p => p.Subnet).ToHashSet();
        foreach (var route in host.ListRoutes(AddressFamily.InterNetwork)
                     .Where(r => r.Protocol == FathomRoutes.Protocol && r.OutputIndex == vtep.Index && r.Destination is { } d && !wanted.Contains(d)))
        {
            Try(() => host.DeleteRoute(route));
            Try(() => host.DeleteNeighbor(new Neighbor { Index = vtep.Index, Ip = route.Gateway ?? route.Destination!.Value.Address }));
            removed++;
        }
        var macs = peers.Select(p => p.VtepMac!).ToHashSet();
        foreach (var entry in host.ListFdb(vtep.Index).Where(e => e.Destination is not null && !macs.Contains(e.Mac)))
            Try(() => host.DeleteFdb(entry with { Self = true }));
        return (added, removed);
    }

    private static Route RouteOf(PeerSubnet peer, Link vtep) => new()
    {
        Destination = peer.Subnet,
        Gateway = peer.Subnet.Network.Address,
        OutputIndex = vtep.Index,
        OnLink = true,
        Protocol = FathomRoutes.Protocol,
    };

    private static void Try(Action removal)
    {
        try
        {
            removal();
        }
        catch (NetlinkException e) when (e.IsNotFound)
        {
        }
    }
}
