using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// The tc BPF pod path of the subnet modes (issue 10 §4, docs/modes.md "redirect"): small programs
/// that carry pod-to-pod packets past the node's IP stack while the node's own routing table
/// (<c>bpf_fib_lookup</c>) still decides where each goes. <c>to_pod</c>, on the node's uplink
/// ingress (host-gw: the fabric NIC; overlay: the VXLAN device), hands a packet for one of the node's
/// pods straight to the pod's eth0 with <c>bpf_redirect_peer</c>; <c>from_pod</c>, on each pod's
/// node-side veth, sends a packet for another pod out of the device its route names with
/// <c>bpf_redirect</c> — or, overlay, wraps it in VXLAN itself and sends it out of the fabric device
/// (<see cref="VxlanEncap"/>), which <c>from_vxlan</c> on the peer's fabric device unwraps into the
/// pod (<see cref="AttachFabric"/>). Everything else — the node's own addresses (kubelet probes),
/// Service addresses (kube-proxy's DNAT), the internet (masquerade), ARP — takes the kernel's path as
/// before, and so do
/// the packets of flows the node's conntrack NATs (a Service's replies to a client pod), which both
/// programs look up with the conntrack kfuncs before redirecting (<see cref="PodRedirectKfuncs"/>).
/// </summary>
/// <remarks>
/// The source is scripts/bpf/redirect.c; its instructions are <see cref="PodRedirectProgram"/>
/// (scripts/bpf-generate.sh, whose <c>--check</c> says whether they still match). Each program
/// compares the destination with one prefix written into its instructions at load time (the marker
/// immediates below), so one program serves every node and no BPF map is needed. The filters hold
/// the programs: nothing stays loaded once the devices or filters are gone, and deleting a pod's veth
/// takes its filter with it.
/// </remarks>
public static class PodRedirect
{
    /// <summary>The filters' priority (<c>tc filter … pref</c>) on every device Fathom attaches to.</summary>
    public const ushort Priority = 7;

    /// <summary>
    /// The priority of <c>from_vxlan</c> on the fabric device: after host-gw's <c>to_pod</c>
    /// (<see cref="Priority"/>), which passes every packet not for its own subnet on, so both modes'
    /// programs can sit on one device.
    /// </summary>
    public const ushort VxlanPriority = 8;

    /// <summary>The fabric program's name (overlay: unwraps VXLAN packets for the node's pods).</summary>
    public const string FromVxlanName = "fathom_vxlan_in";

    /// <summary>The uplink program's name (TCA_BPF_NAME and the program's name).</summary>
    public const string ToPodName = "fathom_to_pod";

    /// <summary>The pod-side program's name.</summary>
    public const string FromPodName = "fathom_from_pod";

    // The markers scripts/bpf/redirect.c compiles in (LOCAL_NET, LOCAL_MASK, CLUSTER_NET, CLUSTER_MASK).
    internal const uint LocalNetMarker = 0x0badc0de, LocalMaskMarker = 0x7fedfefe;
    internal const uint ClusterNetMarker = 0x0badf00d, ClusterMaskMarker = 0x7feff00f;

    // The overlay's markers (VTEP_IFINDEX, NODE_IP, VXLAN_PORT, VNI_WORD): each one mov immediate.
    internal const uint VtepMarker = 0x0bad1f1f, NodeIpMarker = 0x0bad0a0a, PortMarker = 0x0badd0d0, VniMarker = 0x0bad5eed;

    // The marker offset of the load of nf_conn's status (CT_STATUS_OFF), replaced with the kernel's (BTF).
    internal const short StatusMarker = 0x7ba8;

    /// <summary>The kernel's license check for the GPL-only helpers both programs call (bpf_fib_lookup, bpf_redirect_peer), and kfuncs (GPL only).</summary>
    private const string License = "GPL";

    /// <summary>
    /// Attaches <c>to_pod</c> to the ingress of <paramref name="uplink"/> (adding its clsact qdisc if
    /// needed), for destinations in <paramref name="localSubnet"/>, the node's pod subnet. Replaces an
    /// earlier one in one step: safe to call again, e.g. when the subnet changes.
    /// </summary>
    /// <exception cref="NetlinkException">The kernel refused the program (the message carries the verifier's last lines) or the filter;
    /// EOPNOTSUPP, before anything is loaded, when it lacks the conntrack kfuncs (<see cref="PodRedirectKfuncs"/>).</exception>
    public static void AttachUplink(NetlinkHandle host, int uplink, IpPrefix localSubnet)
    {
        var program = Instantiate(PodRedirectProgram.ToPod, localSubnet, LocalNetMarker, LocalMaskMarker);
        PodRedirectKfuncs.ForKernel().Apply(program, PodRedirectProgram.ToPodKfuncCalls, PodRedirectProgram.ToPodStatusLoad, StatusMarker);
        Attach(host, uplink, ToPodName, program);
    }

    /// <summary>
    /// Attaches <c>from_pod</c> to the ingress of a pod's node-side veth, for destinations in
    /// <paramref name="clusterCidr"/>, the cluster's pod CIDR.
    /// </summary>
    /// <param name="host">The node's netlink handle.</param>
    /// <param name="hostVeth">The pod's node-side veth.</param>
    /// <param name="clusterCidr">The cluster's pod CIDR.</param>
    /// <param name="vxlan">
    /// Overlay: the node's VTEP, so that a packet for a peer VTEP of Fathom's MAC scheme is wrapped
    /// here and leaves by the fabric device; null: none.
    /// </param>
    /// <exception cref="NetlinkException">As for <see cref="AttachUplink"/>.</exception>
    public static void AttachPod(NetlinkHandle host, int hostVeth, IpPrefix clusterCidr, VxlanEncap? vxlan = null)
    {
        var program = FromPodFor(clusterCidr, vxlan);
        PodRedirectKfuncs.ForKernel().Apply(program, PodRedirectProgram.FromPodKfuncCalls, PodRedirectProgram.FromPodStatusLoad, StatusMarker);
        Attach(host, hostVeth, FromPodName, program);
    }

    /// <summary><c>from_pod</c>'s instructions with its markers written (not its kfunc calls).</summary>
    internal static byte[] FromPodFor(IpPrefix clusterCidr, VxlanEncap? vxlan)
    {
        var program = Instantiate(PodRedirectProgram.FromPod, clusterCidr, ClusterNetMarker, ClusterMaskMarker);
        WriteVxlan(program, vxlan, withNodeIp: true);
        return program;
    }

    /// <summary>
    /// Overlay: attaches <c>from_vxlan</c> to the ingress of <paramref name="fabric"/> (the node's NIC,
    /// <see cref="VxlanPriority"/>): a VXLAN packet of <paramref name="vxlan"/>'s port and VNI for a pod of
    /// <paramref name="localSubnet"/> is unwrapped there and handed to the pod, past the node's stack and
    /// the VXLAN device; anything else goes on to the kernel. Replaces an earlier one in one step.
    /// </summary>
    /// <exception cref="NetlinkException">As for <see cref="AttachUplink"/>.</exception>
    public static void AttachFabric(NetlinkHandle host, int fabric, IpPrefix localSubnet, VxlanEncap vxlan)
    {
        ArgumentNullException.ThrowIfNull(vxlan);
        var program = Instantiate(PodRedirectProgram.FromVxlan, localSubnet, LocalNetMarker, LocalMaskMarker);
        WriteVxlan(program, vxlan, withNodeIp: false);
        PodRedirectKfuncs.ForKernel().Apply(program, PodRedirectProgram.FromVxlanKfuncCalls, PodRedirectProgram.FromVxlanStatusLoad, StatusMarker);
        Attach(host, fabric, FromVxlanName, program, VxlanPriority);
    }

    /// <summary>
    /// The VTEP MAC of the node at <paramref name="nodeIp"/> in Fathom's scheme, <c>0e:fa:a.b.c.d</c>
    /// (locally administered, unicast): the programs read a peer's node address out of the neighbour
    /// entry of its VTEP, so they can wrap a packet without a map.
    /// </summary>
    public static PhysicalAddress VtepMac(IPAddress nodeIp)
    {
        ArgumentNullException.ThrowIfNull(nodeIp);
        if (nodeIp.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException($"a VTEP MAC carries an IPv4 node address, not {nodeIp}", nameof(nodeIp));
        var mac = new byte[6];
        mac[0] = 0x0e;
        mac[1] = 0xfa;
        nodeIp.TryWriteBytes(mac.AsSpan(2), out _);
        return new PhysicalAddress(mac);
    }

    // The overlay's markers: the VTEP's index (0, which no route leads to, without one), the node's
    // address, the port and the VNI as the packet holds them, read as little-endian u32s.
    private static void WriteVxlan(byte[] program, VxlanEncap? vxlan, bool withNodeIp)
    {
        Span<byte> bytes = stackalloc byte[4];
        Replace(program, VtepMarker, (uint)(vxlan?.VtepIndex ?? 0));
        if (withNodeIp)
        {
            bytes.Clear();
            vxlan?.NodeIp.TryWriteBytes(bytes, out _);
            Replace(program, NodeIpMarker, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
        }
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)(vxlan?.Port ?? 0));
        Replace(program, PortMarker, BinaryPrimitives.ReadUInt16LittleEndian(bytes));
        BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)(vxlan?.Vni ?? 0) << 8);
        Replace(program, VniMarker, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
    }

    /// <summary>Whether <paramref name="device"/>'s ingress has Fathom's filter <paramref name="name"/>, direct-action, with a program loaded (CHECK).</summary>
    public static bool IsAttached(NetlinkHandle host, int device, string name)
    {
        ArgumentNullException.ThrowIfNull(host);
        var priority = name == FromVxlanName ? VxlanPriority : Priority;
        return host.ListTcBpfFilters(device, TcHook.Ingress)
            .Any(f => f.Priority == priority && f.Name == name && f.DirectAction && f.ProgramId is not null);
    }

    /// <summary>Removes Fathom's filter from <paramref name="device"/>'s ingress (leaving the clsact qdisc and anyone else's filters). Returns false when there was none.</summary>
    public static bool Detach(NetlinkHandle host, int device, ushort priority = Priority)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.TryDeleteTcFilters(device, TcHook.Ingress, priority);
    }

    private static void Attach(NetlinkHandle host, int device, string name, byte[] instructions, ushort priority = Priority)
    {
        ArgumentNullException.ThrowIfNull(host);
        using var program = BpfProgram.LoadClassifier(instructions, name, License);
        host.TryAddClsact(device);
        host.ReplaceTcBpfFilter(device, TcHook.Ingress, priority, program, name);
    }

    /// <summary>
    /// A copy of <paramref name="template"/> with the marker immediates replaced by <paramref name="prefix"/>'s
    /// network and mask, as the program loads them from the packet: network byte order read as a
    /// little-endian u32. Each marker must occur exactly once (a compiler that duplicated or folded
    /// one would otherwise leave a program that tests the wrong prefix).
    /// </summary>
    internal static byte[] Instantiate(ReadOnlySpan<byte> template, IpPrefix prefix, uint netMarker, uint maskMarker)
    {
        if (prefix.Family != AddressFamily.InterNetwork)
            throw new ArgumentException($"the pod redirect takes an IPv4 prefix, not {prefix}", nameof(prefix));
        Span<byte> bytes = stackalloc byte[4];
        prefix.Network.Address.TryWriteBytes(bytes, out _);
        var net = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        var maskBigEndian = prefix.PrefixLength == 0 ? 0u : uint.MaxValue << (32 - prefix.PrefixLength);
        BinaryPrimitives.WriteUInt32BigEndian(bytes, maskBigEndian);
        var mask = BinaryPrimitives.ReadUInt32LittleEndian(bytes);
        var program = template.ToArray();
        Replace(program, netMarker, net);
        Replace(program, maskMarker, mask);
        return program;
    }

    private static void Replace(byte[] program, uint marker, uint value)
    {
        var found = -1;
        for (var at = 0; at + 8 <= program.Length; at += 8)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(program.AsSpan(at + 4)) != marker) continue;
            if (found >= 0) throw new InvalidOperationException($"marker 0x{marker:x8} occurs twice in the pod redirect program; regenerate it (scripts/bpf-generate.sh)");
            found = at;
        }
        if (found < 0) throw new InvalidOperationException($"marker 0x{marker:x8} is missing from the pod redirect program; regenerate it (scripts/bpf-generate.sh)");
        BinaryPrimitives.WriteUInt32LittleEndian(program.AsSpan(found + 4), value);
    }
}

/// <summary>
/// The overlay's VTEP as <see cref="PodRedirect"/>'s programs wrap and unwrap its packets themselves
/// (docs/modes.md, "The tc BPF pod path").
/// </summary>
/// <param name="VtepIndex">The node's VXLAN device: a pod packet routed into it is wrapped by the program instead.</param>
/// <param name="NodeIp">The node's address on the fabric, the outer source (the device's <c>local</c>).</param>
/// <param name="Port">The UDP port (the device's <c>dstport</c>).</param>
/// <param name="Vni">The VNI (the device's <c>id</c>).</param>
public sealed record VxlanEncap(int VtepIndex, IPAddress NodeIp, int Port, int Vni);
