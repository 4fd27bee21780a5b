using System.Net;
using System.Net.NetworkInformation;
using System.Buffers.Binary;
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

/// <summary>The two ends of a pod's veth as <see cref="NodeVeth"/> wired them: what a CNI result names of each.</summary>
/// <param name="Node">The node's end, as the kernel created it.</param>
/// <param name="Pod">The pod's end, up.</param>
public readonly record struct VethEnds(Link Node, Link Pod);

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
    /// TX and RX queues of each end. The kernel's default is one of each per possible CPU, and
    /// every queue is a kobject with its sysfs files made with the pair, under RTNL: on this
    /// 2-CPU machine one queue instead of two makes a pair ≈ 0.13 ms faster to create (0.53 →
    /// 0.40 ms, <c>ip -batch</c> of 200), on a 96-CPU node 192 queue objects fewer per end. A
    /// veth has no qdisc and no hardware ring: its queues only spread receive work over NAPI
    /// instances once GRO is on (<see cref="EnableGro"/>), which one pod's traffic rarely needs.
    /// </summary>
    public const int Queues = 1;

    /// <summary>
    /// The node end's name for an attachment: "fth" and 11 hex digits of a hash of the container
    /// id and ifname — stable (a DEL or a restarted agent finds it again), within IFNAMSIZ, and
    /// never one a person would type.
    /// </summary>
    public static string HostNameFor(string containerId, string ifName)
    {
        Span<byte> hash = stackalloc byte[32];
        Sha256(Encoding.UTF8.GetBytes($"{containerId}/{ifName}"), hash);
        return "fth" + Convert.ToHexStringLower(hash)[..11];
    }

    /// <summary>
    /// SHA-256 (FIPS 180-4 §6.2) in managed code: the same digest as SHA256.HashData, without it
    /// loading libssl and libcrypto — ≈ 10 ms of every plugin ADD that names a veth (measured with
    /// <c>strace -r</c> on an agent-backed ADD; docs/benchmarks.md, CNI). The names are not secrets:
    /// the hash only spreads container ids over 44 bits.
    /// </summary>
    internal static void Sha256(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        Span<uint> h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
        var padded = new byte[(data.Length + 9 + 63) / 64 * 64];
        data.CopyTo(padded);
        padded[data.Length] = 0x80;
        BinaryPrimitives.WriteUInt64BigEndian(padded.AsSpan(padded.Length - 8), (ulong)data.Length * 8);
        Span<uint> w = stackalloc uint[64];
        for (var block = 0; block < padded.Length; block += 64)
        {
            for (var t = 0; t < 16; t++) w[t] = BinaryPrimitives.ReadUInt32BigEndian(padded.AsSpan(block + 4 * t));
            for (var t = 16; t < 64; t++)
            {
                var s0 = uint.RotateRight(w[t - 15], 7) ^ uint.RotateRight(w[t - 15], 18) ^ (w[t - 15] >> 3);
                var s1 = uint.RotateRight(w[t - 2], 17) ^ uint.RotateRight(w[t - 2], 19) ^ (w[t - 2] >> 10);
                w[t] = w[t - 16] + s0 + w[t - 7] + s1;
            }
            uint a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
            for (var t = 0; t < 64; t++)
            {
                var t1 = k + (uint.RotateRight(e, 6) ^ uint.RotateRight(e, 11) ^ uint.RotateRight(e, 25)) + ((e & f) ^ (~e & g)) + Sha256K[t] + w[t];
                var t2 = (uint.RotateRight(a, 2) ^ uint.RotateRight(a, 13) ^ uint.RotateRight(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                (k, g, f, e, d, c, b, a) = (g, f, e, d + t1, c, b, a, t1 + t2);
            }
            h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
        }
        for (var i = 0; i < 8; i++) BinaryPrimitives.WriteUInt32BigEndian(digest[(4 * i)..], h[i]);
    }

    private static ReadOnlySpan<uint> Sha256K =>
    [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ];

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
    /// The MAC the pod's end of the pair <paramref name="hostName"/> is created with (every pair here):
    /// 02 (locally administered, unicast) and five bytes of a hash of the name, so that the pair's
    /// wiring needs no request to read it back. It only has to be unique on its veth and the node's
    /// neighbour entry for it, which is per device.
    /// </summary>
    public static PhysicalAddress PodMacFor(string hostName)
    {
        ArgumentNullException.ThrowIfNull(hostName);
        Span<byte> hash = stackalloc byte[32];
        Sha256(Encoding.UTF8.GetBytes($"pod-mac/{hostName}"), hash);
        hash[0] = 0x02;
        return new PhysicalAddress(hash[..6].ToArray());
    }

    /// <summary>
    /// Creates and wires the pair. On any failure the pair is deleted again (deleting the node
    /// end takes the pod end with it) and the error is a <see cref="CniException"/>: 103 when
    /// the pod already has <see cref="NodeVethSpec.PodIfName"/>, 104 for any other refusal.
    /// </summary>
    public static VethEnds Create(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, NodeVethSpec spec)
    {
        ThrowIfPodHas(podLinks, spec.PodIfName);
        return CreateChecked(host, pod, podLinks, spec);
    }

    /// <summary>
    /// <see cref="Create"/> for a caller that has already looked for <see cref="NodeVethSpec.PodIfName"/>
    /// in the pod (an underlay ADD does before its ENI leaves the node, an agent-backed ADD before
    /// anything is allocated): one link request fewer on the pod's critical path (docs/benchmarks.md,
    /// "Where an underlay ADD goes"). A name taken since the caller looked is the kernel's EEXIST, 104.
    /// </summary>
    public static VethEnds CreateChecked(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, NodeVethSpec spec)
    {
        var node = CreatePair(host, pod, spec);
        try
        {
            return new VethEnds(node, Wire(host, podLinks, node, spec));
        }
        catch
        {
            host.TryDeleteLink(spec.HostName);
            throw;
        }
    }

    /// <summary>
    /// CNI spec §ADD: 103 when the pod already has <paramref name="ifName"/>. <paramref name="netnsPath"/>,
    /// when the caller has it, names the pod's netns in the message.
    /// </summary>
    public static void ThrowIfPodHas(NetlinkHandle podLinks, string ifName, string? netnsPath = null)
    {
        ArgumentNullException.ThrowIfNull(podLinks);
        var where = netnsPath is null ? "the pod's netns" : $"netns {netnsPath}";
        if (KernelCall.Run($"look up {ifName} in {where}", () => podLinks.TryGetLink(ifName, out _)))
            throw new CniException(DatapathErrorCodes.IfNameExists, $"interface \"{ifName}\" already exists in {where}");
    }

    /// <summary>
    /// The pair alone, before its pod's address is known: the agent-backed shared ADD makes it while
    /// the agent allocates (the names are known before: <see cref="HostNameFor"/>), so the pod waits
    /// for the longer of the two, not for both. Null when the kernel refuses (a veth of that name
    /// still there, the pod's netns gone): the caller makes the pair the ordinary way once it has
    /// the allocation, and that way's error is the one reported. <see cref="TryWireEarly"/> finishes it.
    /// </summary>
    public static Link? TryCreateEarly(NetlinkHandle host, NetnsHandle pod, string hostName, string podIfName)
    {
        ArgumentNullException.ThrowIfNull(host);
        try
        {
            var made = host.CreateVeth(hostName, podIfName, pod, new VethOptions { Up = true, PeerMac = PodMacFor(hostName), Queues = Queues });
            CniSteps.Mark("create the pod's veth while fathom-agent allocates");
            return made;
        }
        catch (NetlinkException)
        {
            return null;
        }
    }

    /// <summary>
    /// <see cref="CreateChecked"/> for a pair <see cref="TryCreateEarly"/> made: wires it (at
    /// <see cref="NodeVethSpec.Mtu"/>, when the reply named one), or deletes it and throws. Null when
    /// the pair is gone — an earlier pod's teardown of the same name, which the agent finishes before
    /// it answers, deleted it meanwhile — and the caller makes it anew.
    /// </summary>
    public static VethEnds? TryWireEarly(NetlinkHandle host, NetlinkHandle podLinks, Link node, NodeVethSpec spec)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(podLinks);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(spec);
        // Both ends go together (veth_dellink): the pod's end tells whether the pair still exists.
        // Known without asking (PodEndOf), setting it up is the first request and the look: ENODEV,
        // the pair is gone.
        if (PodEndOf(node, spec.PodIfName) is not { } inPod)
            return KernelCall.Run($"look up {spec.PodIfName} in the pod", () => podLinks.TryGetLink(spec.PodIfName, out var p) ? p : null) is { } found
                ? WireEarly(host, podLinks, node, spec, found, podEndUp: false)
                : null;
        try
        {
            podLinks.SetLinkUp(inPod.Index);
            CniSteps.Mark("set the veth's pod end up");
        }
        catch (NetlinkException e) when (e.Error == Errno.ENODEV)
        {
            return null;
        }
        catch (NetlinkException e)
        {
            host.TryDeleteLink(spec.HostName);
            throw new CniException(CniErrorCode.DatapathFailure, $"failed to set {spec.PodIfName} up in the pod: {e.Message}", e.KernelMessage, e);
        }
        return WireEarly(host, podLinks, node, spec, inPod, podEndUp: true);
    }

    /// <summary>
    /// The pod's end of a pair this class made, as the kernel holds it, without a request to read it:
    /// its index is the node end's IFLA_LINK (the peer's index, in the pod's netns), its MAC the one
    /// the pair was created with (<see cref="PodMacFor"/>), its MTU the node end's. Null when the
    /// node end names no peer index, and the caller looks the pod's end up.
    /// </summary>
    private static Link? PodEndOf(Link node, string podIfName) =>
        node.PeerIndex is { } index
            ? new Link { Index = index, Name = podIfName, Kind = node.Kind, Mac = PodMacFor(node.Name), Mtu = node.Mtu, PeerIndex = node.Index }
            : null;

    private static VethEnds WireEarly(NetlinkHandle host, NetlinkHandle podLinks, Link node, NodeVethSpec spec, Link inPod, bool podEndUp)
    {
        try
        {
            if (spec.Mtu is { } mtu && (node.Mtu != mtu || inPod.Mtu != mtu))
            {
                KernelCall.Run($"set {spec.HostName} mtu {mtu}", () => host.SetLinkMtu(node.Index, mtu));
                KernelCall.Run($"set {spec.PodIfName} mtu {mtu} in the pod", () => podLinks.SetLinkMtu(inPod.Index, mtu));
                (node, inPod) = (node with { Mtu = mtu }, inPod with { Mtu = mtu });
            }
            return new VethEnds(node, Wire(host, podLinks, node, spec, inPod, podEndUp));
        }
        catch
        {
            host.TryDeleteLink(spec.HostName);
            throw;
        }
    }

    /// <summary>
    /// <see cref="CreateChecked"/>, using the pair <see cref="TryCreateEarly"/> made when there is one
    /// under <see cref="NodeVethSpec.HostName"/> (<see cref="TryWireEarly"/>). A pair under another
    /// name — the agent named the veth otherwise, a release apart — is deleted first.
    /// </summary>
    public static VethEnds CreateOrWireEarly(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, Link? early, NodeVethSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (early is not null && early.Name == spec.HostName)
        {
            if (TryWireEarly(host, podLinks, early, spec) is { } ends) return ends;
        }
        else if (DropEarly(host, early) is { } left)
        {
            throw new CniException(CniErrorCode.InternalError, $"fathom-agent named the pod's veth \"{spec.HostName}\", not \"{early!.Name}\"; {left}");
        }
        return CreateChecked(host, pod, podLinks, spec);
    }

    /// <summary>
    /// The agent's reply to the ADD a pair was made early for (<paramref name="receive"/>); when that
    /// fails, the pair is deleted (<see cref="DropEarly"/>) before the error goes on, and named in it
    /// if it could not be.
    /// </summary>
    public static T ReplyOrDropEarly<T>(NetlinkHandle host, Link? early, Func<T> receive)
    {
        ArgumentNullException.ThrowIfNull(receive);
        try
        {
            return receive();
        }
        catch (CniException e)
        {
            if (DropEarly(host, early) is { } left)
                throw new CniException(e.Code, $"{e.Message}; {left}", e.Details, e);
            throw;
        }
    }

    /// <summary>
    /// Deletes a pair <see cref="TryCreateEarly"/> made that nothing is going to wire (the agent refused,
    /// or answered what the pair does not fit). Null when there was none or it is gone now; else what
    /// was left on the node, for the error message. Never throws.
    /// </summary>
    public static string? DropEarly(NetlinkHandle host, Link? early)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (early is null) return null;
        try
        {
            TryDelete(host, early.Name);
            return null;
        }
        catch (CniException e)
        {
            return $"veth \"{early.Name}\" made for the pod is left on the node ({e.Message}): delete it";
        }
    }

    // The node end up from the start: one request under RTNL fewer per pod (issue 9 §10); the pod's
    // end with a MAC of ours, so that neither end has to be read back (PodEndOf).
    private static Link CreatePair(NetlinkHandle host, NetnsHandle pod, NodeVethSpec spec) =>
        KernelCall.Run($"create veth {spec.HostName} with {spec.PodIfName} in the pod",
            () => host.CreateVeth(spec.HostName, spec.PodIfName, pod, new VethOptions { Mtu = spec.Mtu, Up = true, PeerMac = PodMacFor(spec.HostName), Queues = Queues }));

    private static Link Wire(NetlinkHandle host, NetlinkHandle podLinks, Link node, NodeVethSpec spec) =>
        Wire(host, podLinks, node, spec,
            PodEndOf(node, spec.PodIfName) ?? KernelCall.Run($"look up {spec.PodIfName} in the pod", () => podLinks.GetLink(spec.PodIfName)),
            podEndUp: false);

    /// <summary>
    /// Puts right the pod's routes through the node on its end <paramref name="podIfName"/> (onlink via
    /// <see cref="Gateway"/>, as <see cref="Create"/> makes them): adds those of <paramref name="add"/> it
    /// lacks, removes those to <paramref name="remove"/> it has; routes to anything else are not touched.
    /// For a pod wired before the node needed a route, or whose node no longer runs the mode one led to.
    /// </summary>
    /// <returns>The destinations added and those removed.</returns>
    public static (IReadOnlyList<IpPrefix> Added, IReadOnlyList<IpPrefix> Removed) SetViaNode(NetlinkHandle podLinks, string podIfName,
        IReadOnlyCollection<IpPrefix> add, IReadOnlyCollection<IpPrefix> remove)
    {
        ArgumentNullException.ThrowIfNull(podLinks);
        ArgumentNullException.ThrowIfNull(add);
        ArgumentNullException.ThrowIfNull(remove);
        var link = KernelCall.Run($"look up {podIfName} in the pod", () => podLinks.GetLink(podIfName));
        var present = KernelCall.Run("list the pod's routes", () => podLinks.ListRoutes(System.Net.Sockets.AddressFamily.InterNetwork))
            .Where(r => r.OutputIndex == link.Index && r.Destination is not null).ToList();
        var added = new List<IpPrefix>();
        foreach (var destination in add.Where(d => d.PrefixLength > 0 && !present.Any(r => r.Destination == d)))
        {
            KernelCall.Run($"add route {destination} via {Gateway} dev {podIfName}", () => podLinks.AddRoute(ViaNode(destination, link.Index)));
            added.Add(destination);
        }
        var removed = new List<IpPrefix>();
        foreach (var destination in present.Where(r => remove.Contains(r.Destination!.Value) && Equals(r.Gateway, Gateway)).Select(r => r.Destination!.Value))
        {
            KernelCall.Run($"delete route {destination} via {Gateway} dev {podIfName}", () => podLinks.DeleteRoute(ViaNode(destination, link.Index)));
            removed.Add(destination);
        }
        return (added, removed);
    }

    // A pod's route through the node: onlink via the link-local gateway on the pod's end (a /0 is the default route).
    private static Route ViaNode(IpPrefix destination, int podEnd) => new()
    {
        Destination = destination.PrefixLength == 0 ? null : destination,
        Family = System.Net.Sockets.AddressFamily.InterNetwork,
        Gateway = Gateway,
        OutputIndex = podEnd,
        OnLink = true,
    };

    // The pod's end as wired: as made (PodEndOf) or found before it was set up, plus the up flag the
    // kernel acknowledged — its index, MAC and MTU are all a caller needs, without a request to read it again.
    private static Link Wire(NetlinkHandle host, NetlinkHandle podLinks, Link node, NodeVethSpec spec, Link inPod, bool podEndUp)
    {
        var podAddress = new IpPrefix(spec.PodIp, 32);
        if (!podEndUp)
            KernelCall.Run($"set {spec.PodIfName} up in the pod", () => podLinks.SetLinkUp(inPod.Index));
        KernelCall.Run($"add address {podAddress} to {spec.PodIfName}", () => podLinks.AddAddress(inPod.Index, podAddress, new AddressOptions()));
        KernelCall.Run($"add the neighbour {Gateway} (the node) on {spec.PodIfName}", () => podLinks.ReplaceNeighbor(new Neighbor
        {
            Index = inPod.Index,
            Ip = Gateway,
            Mac = node.Mac,
        }));
        // Every route through the gateway is onlink: the pod needs no route to the gateway itself
        // (Calico adds "169.254.1.1 dev eth0 scope link" because its default route is not onlink).
        foreach (var destination in spec.ViaNode)
            KernelCall.Run($"add route {destination} via {Gateway} dev {spec.PodIfName}", () => podLinks.AddRoute(ViaNode(destination, inPod.Index)));

        EnableGro(podLinks, spec.PodIfName);
        EnableGro(host, spec.HostName);
        CniSteps.Mark("turn GRO on at both ends of the veth");
        KernelCall.Run($"add route {podAddress} dev {spec.HostName}", () => host.ReplaceRoute(new Route
        {
            Destination = podAddress,
            OutputIndex = node.Index,
            Scope = RouteScope.Link,
        }));
        // The node knows the pod's MAC already: a permanent entry spares the first packet an ARP
        // round trip and keeps pods out of the neighbour table's garbage-collected entries, whose
        // limit (gc_thresh3, 1024 by default) is one for the whole machine, every netns included.
        KernelCall.Run($"add the neighbour {spec.PodIp} (the pod) on {spec.HostName}", () => host.ReplaceNeighbor(new Neighbor
        {
            Index = node.Index,
            Ip = spec.PodIp,
            Mac = inPod.Mac,
        }));
        return inPod with { Flags = inPod.Flags | LinkFlags.Up };
    }

    /// <summary>
    /// GRO on both ends: a veth with GRO on receives through NAPI and coalesces a burst of MTU-sized
    /// packets into large ones, so such traffic crosses the node's stack in fewer, bigger steps. A
    /// local TCP sender's stream already crosses as 64 KB GSO packets: for it GRO is neutral
    /// (docs/modes.md, "Where the gap to the targets is": the same CPU per Gbit on or off). Best
    /// effort: a kernel without veth NAPI GRO (before 5.13) refuses, and the pod works as before —
    /// so any refusal is ignored rather than failing the pod.
    /// </summary>
    private static void EnableGro(NetlinkHandle links, string name)
    {
        try
        {
            links.SetGro(name, true);
        }
        catch (NetlinkException)
        {
        }
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
