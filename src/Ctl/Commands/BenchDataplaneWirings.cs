using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json.Nodes;
using Fathom.Datapath;
using Fathom.Datapath.HostGw;
using Fathom.Datapath.Overlay;
using Fathom.Datapath.Shared;
using Fathom.Datapath.Underlay;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>
/// The pod pairs <see cref="BenchDataplane"/> measures, each on the same two nodes. Fathom's
/// wirings come from the datapath projects themselves (<see cref="UnderlayEni"/>,
/// <see cref="SharedWiring"/>, <see cref="NodeVeth"/> with <see cref="HostGwRoutes"/> or
/// <see cref="VxlanOverlay"/>); the classic pairs are made by the reference plugins flannel
/// delegates to (<c>bridge</c> + <c>host-local</c> from CNI_PATH) plus the routes, or VXLAN
/// device, neighbours and FDB entries flannel itself installs.
/// </summary>
internal sealed partial class BenchDataplane
{
    private static readonly string[] NodeIps = ["10.80.0.1", "10.80.0.2"];

    /// <summary>
    /// How the floor of an overlay pod's MTU is named, <c>node MTU 1450 (floor)</c>: node↔node over
    /// NICs at fabric − 50 (<see cref="OverlayMtuFloor"/>).
    /// </summary>
    internal const string OverlayMtuFloorPrefix = "node MTU ";

    private int Mtu => options.FabricMtu;

    private int OverlayMtu => options.FabricMtu - VxlanOverlay.Overhead;

    /// <summary>The VPC's router in the fabric: the subnet's gateway for ENIs (underlay, shared).</summary>
    private const string Gateway = "10.80.0.254";

    /// <summary>One way of connecting two endpoints: the client runs in <see cref="Client"/>, the server in <see cref="Server"/>.</summary>
    /// <param name="Name">As the table and the JSON name it: <c>underlay (fathom)</c>, <c>host-gw (bridge)</c>.</param>
    /// <param name="Mode">node, underlay, shared, host-gw or overlay.</param>
    /// <param name="Family">baseline, fathom or classic.</param>
    /// <param name="Client">The client's namespace.</param>
    /// <param name="Server">The server's namespace.</param>
    /// <param name="ServerIp">The address the server listens on.</param>
    internal sealed record Wiring(string Name, string Mode, string Family, string Client, string Server, string ServerIp)
    {
        public Dictionary<string, List<double>> Samples { get; } = DataplaneMeasure.All.ToDictionary(m => m.Key, _ => new List<double>());
        public Dictionary<string, List<double>> Ratios { get; } = DataplaneMeasure.All.ToDictionary(m => m.Key, _ => new List<double>());

        /// <summary>Runs that failed (the load generator could not reach the server), one line each.</summary>
        public List<string> Failures { get; } = [];
    }

    private List<Wiring> Build()
    {
        var fabric = scratch.NameFor("-fabric");
        scratch.CreateNetns("-fabric").Dispose();
        // A fixed MAC: a bridge without one takes its lowest port's, so it changes as ENIs join, and the
        // kernel flushes the bridge's neighbours on a change of address — the shared pods' permanent
        // entries with them (neigh_changeaddr), and their traffic stops at random.
        // Its MTU set by hand, so that a port of a smaller MTU (the MTU floor's) does not lower the bridge's.
        Ip(fabric, "link", "add", "br0", "address", "02:fa:b0:00:00:fe", "mtu", $"{Mtu}", "type", "bridge");
        Ip(fabric, "addr", "add", $"{Gateway}/24", "dev", "br0");
        Ip(fabric, "link", "set", "br0", "up");
        // The fabric routes shared-mode traffic back out of br0 (ENI → gateway → ENI), as a VPC router does.
        Sysctl(fabric, "net.ipv4.ip_forward=1");
        Sysctl(fabric, "net.ipv4.conf.all.send_redirects=0");
        Sysctl(fabric, "net.ipv4.conf.br0.send_redirects=0");
        // The fabric is the VPC, not a Kubernetes node: no iptables for its bridged frames. Where the kernel
        // has br_netfilter (built in here), a new namespace starts with bridge-nf-call-iptables=1 and its first
        // bridge registers the hooks, so every frame br0 forwards — node↔node's too — paid them (≈ 6 % of
        // node↔node's CPU per Gbit, docs/benchmarks.md), a cost the pods' wiring shares and that flattered
        // every ratio. -e: a kernel without br_netfilter has no such keys and nothing to turn off.
        foreach (var family in new[] { "iptables", "ip6tables", "arptables" })
            Exec("ip", "netns", "exec", fabric, "sysctl", "-qew", $"net.bridge.bridge-nf-call-{family}=0");
        for (var i = 0; i < 2; i++)
        {
            scratch.CreateNetns($"-node{i + 1}").Dispose();
            Ip(fabric, "link", "add", $"n{i}", "mtu", $"{Mtu}", "type", "veth", "peer", "name", "eth0", "mtu", $"{Mtu}", "netns", _nodes[i]);
            Ip(fabric, "link", "set", $"n{i}", "master", "br0", "up");
            Ip(_nodes[i], "addr", "add", $"{NodeIps[i]}/24", "dev", "eth0");
            Ip(_nodes[i], "link", "set", "eth0", "up");
            Ip(_nodes[i], "link", "set", "lo", "up");
            Sysctl(_nodes[i], "net.ipv4.ip_forward=1");
            // A node with several NICs on one subnet answers ARP only on the NIC that holds the address
            // (else the ENIs answer for eth0's address and node↔node traffic wanders into them).
            Sysctl(_nodes[i], "net.ipv4.conf.all.arp_ignore=1");
            Sysctl(_nodes[i], "net.ipv4.conf.all.arp_announce=2");
        }
        List<Wiring> wirings =
        [
            new Wiring("node↔node", "node", "baseline", _nodes[0], _nodes[1], NodeIps[1]),
            Underlay(fabric),
            Shared(fabric),
            HostGw(),
            ClassicHostGw(),
            Overlay(),
            ClassicOverlay(),
        ];
        // Fathom's wiring with the tc BPF pod path (PodRedirect): left out, with a line, where the
        // kernel refuses the programs (no bpf_redirect_peer before 5.10), as a node falls back to its routes.
        foreach (var (name, build) in new (string, Func<Wiring>)[] { ("host-gw (bpf)", HostGwBpf), ("overlay (bpf)", OverlayBpf) })
        {
            try
            {
                wirings.Add(build());
            }
            catch (NetlinkException e)
            {
                Console.WriteLine($"{name} left out: the tc BPF pod path cannot run on this kernel: {e.Message}");
            }
        }
        if (options.Floor) wirings.AddRange([VethHopFloor(), VxlanFloor(), OverlayMtuFloor(fabric)]);
        return wirings;
    }

    /// <summary>An ENI as the lab hot-plugs one: a veth whose node end appears as <paramref name="device"/>, the other on the subnet's bridge.</summary>
    private PhysicalAddress HotPlugEni(string fabric, int node, string device, string fabricEnd)
    {
        Ip(fabric, "link", "add", fabricEnd, "mtu", $"{Mtu}", "type", "veth", "peer", "name", device, "mtu", $"{Mtu}", "netns", _nodes[node]);
        Ip(fabric, "link", "set", fabricEnd, "master", "br0", "up");
        PhysicalAddress? mac = null;
        WithNode(node, host => mac = host.GetLink(device).Mac);
        return mac ?? throw new InvalidOperationException($"{device} on node {node + 1} has no MAC");
    }

    // ---- Fathom's wiring, from the datapath projects ----

    /// <summary>Underlay: a whole ENI moved into each pod (through <see cref="UnderlayEni"/>, as the agent-backed ADD does), the pods on the subnet itself.</summary>
    private Wiring Underlay(string fabric)
    {
        var pods = new string[2];
        for (var i = 0; i < 2; i++)
        {
            var node = i;
            var mac = HotPlugEni(fabric, node, "eth1", $"u{node}");
            using var podNs = scratch.CreateNetns($"-ul{node + 1}");
            pods[node] = scratch.NameFor($"-ul{node + 1}");
            using var pod = NetlinkHandle.OpenIn(podNs);
            var eni = new PodEni("eth1", mac, Mtu, IpPrefix.Parse($"10.80.0.{11 + node}/24"), IPAddress.Parse(Gateway),
                [IpPrefix.Parse($"{NodeIps[node]}/32")]);
            WithNode(node, host => UnderlayEni.Instance.Attach(host, podNs, pod, $"/run/netns/{pods[node]}", eni, "eth0", _ => { }));
        }
        return new Wiring("underlay (fathom)", "underlay", "fathom", pods[0], pods[1], "10.80.0.12");
    }

    /// <summary>
    /// Shared: a secondary IP of a second ENI behind a veth, its traffic leaving by that ENI's
    /// table (<see cref="EniRouting"/>, <see cref="SharedWiring"/>). The fabric's router knows
    /// which ENI holds the IP (a permanent neighbour, as the VPC's mapping service would).
    /// </summary>
    private Wiring Shared(string fabric)
    {
        const int table = 101;
        var pods = new string[2];
        for (var i = 0; i < 2; i++)
        {
            var node = i;
            var podIp = $"10.80.0.{21 + node}";
            var mac = HotPlugEni(fabric, node, "eth2", $"s{node}");
            Ip(fabric, "neigh", "replace", podIp, "lladdr", InterfaceNames.FormatMac(mac), "dev", "br0", "nud", "permanent");
            using var podNs = scratch.CreateNetns($"-sh{node + 1}");
            pods[node] = scratch.NameFor($"-sh{node + 1}");
            using var pod = NetlinkHandle.OpenIn(podNs);
            using var nodeNs = Netns.Open(_nodes[node]);
            using var host = NetlinkHandle.OpenIn(nodeNs);
            EniRouting.Install(host, nodeNs, host.GetLink("eth2").Index, "eth2", table, IPAddress.Parse(Gateway));
            SharedWiring.Add(host, podNs, pod, new SharedPod(IPAddress.Parse(podIp), $"fsh{node}", "eth0", table, Mtu));
        }
        return new Wiring("shared (fathom)", "shared", "fathom", pods[0], pods[1], "10.80.0.22");
    }

    private Wiring HostGw()
    {
        var pods = Pods("-hg", (i, host, podNs, pod) =>
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fhg{i}", "eth0", IPAddress.Parse($"10.244.{i + 1}.5"), [IpPrefix.Parse("0.0.0.0/0")], Mtu)));
        for (var i = 0; i < 2; i++)
            WithNode(i, host => HostGwRoutes.Reconcile(host, [new PeerSubnet(IpPrefix.Parse($"10.244.{2 - i}.0/24"), IPAddress.Parse(NodeIps[1 - i]))]));
        return new Wiring("host-gw (fathom)", "host-gw", "fathom", pods[0], pods[1], "10.244.2.5");
    }

    private Wiring Overlay()
    {
        // Fathom's VTEP MACs carry the node's address (the agent's too): what the bpf wiring's programs wrap by.
        PhysicalAddress Mac(int i) => PodRedirect.VtepMac(IPAddress.Parse(NodeIps[i]));
        for (var i = 0; i < 2; i++)
        {
            var node = i;
            WithNode(node, host => VxlanOverlay.EnsureDevice(host, new VtepSpec("fathom.1", 1, IPAddress.Parse(NodeIps[node]),
                host.GetLink("eth0").Index, Mtu, IpPrefix.Parse($"10.246.{node + 1}.0/24")), Mac(node)));
        }
        for (var i = 0; i < 2; i++)
        {
            var other = 1 - i;
            WithNode(i, host => VxlanOverlay.Reconcile(host, host.GetLink("fathom.1"),
                [new PeerSubnet(IpPrefix.Parse($"10.246.{other + 1}.0/24"), IPAddress.Parse(NodeIps[other]), Mac(other))]));
        }
        var pods = Pods("-ov", (i, host, podNs, pod) =>
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fov{i}", "eth0", IPAddress.Parse($"10.246.{i + 1}.5"),
                [IpPrefix.Parse("0.0.0.0/0")], Mtu: OverlayMtu)));
        return new Wiring("overlay (fathom)", "overlay", "fathom", pods[0], pods[1], "10.246.2.5");
    }

    /// <summary>
    /// The cluster CIDR the bpf wirings' <c>from_pod</c> takes (<see cref="PodRedirect.AttachPod"/>):
    /// their pods' ranges, 10.242.0.0/16 (overlay) and 10.243.0.0/16 (host-gw), and nothing of the
    /// other wirings, whose traffic the programs must leave alone.
    /// </summary>
    private static readonly IpPrefix BpfCluster = IpPrefix.Parse("10.242.0.0/15");

    /// <summary>
    /// host-gw with the tc BPF pod path: <see cref="NodeVeth"/> pods in 10.243.N.0/24, routed via the
    /// nodes like host-gw's, <c>to_pod</c> on each node's <c>eth0</c> for its subnet (the program's
    /// first test sends every other packet, node↔node's included, on at once) and <c>from_pod</c> on
    /// each pod's veth.
    /// </summary>
    private Wiring HostGwBpf()
    {
        var pods = Pods("-hp", (i, host, podNs, pod) =>
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fhp{i}", "eth0", IPAddress.Parse($"10.243.{i + 1}.5"), [IpPrefix.Parse("0.0.0.0/0")], Mtu)));
        for (var i = 0; i < 2; i++)
        {
            var node = i;
            Ip(_nodes[node], "route", "add", $"10.243.{2 - node}.0/24", "via", NodeIps[1 - node]);
            WithNode(node, host =>
            {
                PodRedirect.AttachUplink(host, host.GetLink("eth0").Index, IpPrefix.Parse($"10.243.{node + 1}.0/24"));
                PodRedirect.AttachPod(host, host.GetLink($"fhp{node}").Index, BpfCluster);
            });
        }
        return new Wiring("host-gw (bpf)", "host-gw", "fathom", pods[0], pods[1], "10.243.2.5");
    }

    /// <summary>
    /// overlay with the tc BPF pod path: pods in 10.242.N.0/24 behind the same VXLAN device and VTEP
    /// neighbours as overlay's (an onlink route each), <c>from_pod</c> on each pod's veth (its route names
    /// the VXLAN device; the program wraps the packet itself and sends it out of <c>eth0</c>),
    /// <c>from_vxlan</c> on <c>eth0</c> (unwraps into the pod), and <c>to_pod</c> on the VXLAN device for
    /// what still comes through it.
    /// </summary>
    private Wiring OverlayBpf()
    {
        var pods = Pods("-op", (i, host, podNs, pod) =>
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fop{i}", "eth0", IPAddress.Parse($"10.242.{i + 1}.5"),
                [IpPrefix.Parse("0.0.0.0/0")], Mtu: OverlayMtu)));
        for (var i = 0; i < 2; i++)
        {
            var (node, other) = (i, 1 - i);
            Ip(_nodes[node], "route", "add", $"10.242.{other + 1}.0/24", "via", $"10.246.{other + 1}.0", "dev", "fathom.1", "onlink");
            WithNode(node, host =>
            {
                var subnet = IpPrefix.Parse($"10.242.{node + 1}.0/24");
                var vxlan = new VxlanEncap(host.GetLink("fathom.1").Index, IPAddress.Parse(NodeIps[node]), 4789, 1);
                PodRedirect.AttachUplink(host, vxlan.VtepIndex, subnet);
                PodRedirect.AttachFabric(host, host.GetLink("eth0").Index, subnet, vxlan);
                PodRedirect.AttachPod(host, host.GetLink($"fop{node}").Index, BpfCluster, vxlan);
            });
        }
        return new Wiring("overlay (bpf)", "overlay", "fathom", pods[0], pods[1], "10.242.2.5");
    }

    private string[] Pods(string role, Action<int, NetlinkHandle, NetnsHandle, NetlinkHandle> wire)
    {
        var pods = new string[2];
        for (var i = 0; i < 2; i++)
        {
            var node = i;
            using var podNs = scratch.CreateNetns($"{role}{i + 1}");
            pods[i] = scratch.NameFor($"{role}{i + 1}");
            using var pod = NetlinkHandle.OpenIn(podNs);
            WithNode(node, host => wire(node, host, podNs, pod));
            if (options.NoGro)
            {
                // NodeVeth turns GRO on at both ends; --no-gro shows what that buys.
                pod.SetGro("eth0", false);
                WithNode(node, host => host.SetGro($"f{role[1..]}{node}", false));
            }
        }
        return pods;
    }

    // ---- the classic wiring: flannel's routes / VTEP around the reference bridge + host-local plugins ----

    private Wiring ClassicHostGw()
    {
        var pods = ReferencePods("-hb", "cni0", "10.245", Mtu);
        for (var i = 0; i < 2; i++)
            Ip(_nodes[i], "route", "add", $"10.245.{2 - i}.0/24", "via", NodeIps[1 - i]);
        return new Wiring("host-gw (bridge)", "host-gw", "classic", pods[0], pods[1], "10.245.2.5");
    }

    private Wiring ClassicOverlay()
    {
        var macs = new[] { "02:fb:00:00:00:01", "02:fb:00:00:00:02" };
        for (var i = 0; i < 2; i++)
        {
            Ip(_nodes[i], "link", "add", "flannel.1", "address", macs[i], "type", "vxlan", "id", "2", "local", NodeIps[i],
                "dev", "eth0", "dstport", "8472", "nolearning");
            Ip(_nodes[i], "link", "set", "flannel.1", "mtu", $"{OverlayMtu}", "up");
            Ip(_nodes[i], "addr", "add", $"10.247.{i + 1}.0/32", "dev", "flannel.1");
        }
        var pods = ReferencePods("-ob", "cni1", "10.247", OverlayMtu);
        for (var i = 0; i < 2; i++)
        {
            var o = 1 - i;
            Ip(_nodes[i], "neigh", "replace", $"10.247.{o + 1}.0", "lladdr", macs[o], "dev", "flannel.1", "nud", "permanent");
            Exec("ip", "netns", "exec", _nodes[i], "bridge", "fdb", "replace", macs[o], "dev", "flannel.1", "dst", NodeIps[o], "self", "permanent");
            Ip(_nodes[i], "route", "add", $"10.247.{o + 1}.0/24", "via", $"10.247.{o + 1}.0", "dev", "flannel.1", "onlink");
        }
        return new Wiring("overlay (bridge)", "overlay", "classic", pods[0], pods[1], "10.247.2.5");
    }

    /// <summary>
    /// A pod per node, networked by the reference <c>bridge</c> plugin with <c>host-local</c> IPAM as
    /// flannel's CNI config delegates to them (<c>isDefaultGateway</c>: the bridge holds the subnet's .1 and
    /// is the pod's default route), run from CNI_PATH in the node's namespace as a runtime runs it.
    /// host-local's range is the one address .5, so both wirings put their pods at the same place.
    /// </summary>
    private string[] ReferencePods(string role, string bridge, string prefix, int mtu)
    {
        var plugin = Path.Combine(options.CniPath, "bridge");
        if (!File.Exists(plugin) || !File.Exists(Path.Combine(options.CniPath, "host-local")))
            throw new InvalidOperationException($"the reference plugins bridge and host-local are not in {options.CniPath} (Debian: apt-get install containernetworking-plugins; or --cni-path DIR)");
        var dataDir = scratch.CreateDirectory($"{role}-ipam");
        var pods = new string[2];
        for (var i = 0; i < 2; i++)
        {
            scratch.CreateNetns($"{role}{i + 1}").Dispose();
            pods[i] = scratch.NameFor($"{role}{i + 1}");
            var config = new JsonObject
            {
                ["cniVersion"] = "1.0.0",
                ["name"] = $"bench{role}",
                ["type"] = "bridge",
                ["bridge"] = bridge,
                ["isDefaultGateway"] = true,
                ["mtu"] = mtu,
                ["ipam"] = new JsonObject
                {
                    ["type"] = "host-local",
                    ["dataDir"] = Path.Combine(dataDir, $"node{i + 1}"),
                    ["ranges"] = new JsonArray(new JsonArray(new JsonObject
                    {
                        ["subnet"] = $"{prefix}.{i + 1}.0/24",
                        ["rangeStart"] = $"{prefix}.{i + 1}.5",
                        ["rangeEnd"] = $"{prefix}.{i + 1}.5",
                    })),
                },
            };
            BenchDataplaneProbes.Exec("ip", ["netns", "exec", _nodes[i], "env", "CNI_COMMAND=ADD", $"CNI_CONTAINERID=bench{role}{i}",
                $"CNI_NETNS=/run/netns/{pods[i]}", "CNI_IFNAME=eth0", $"CNI_PATH={options.CniPath}", plugin], stdin: config.ToJsonString());
        }
        return pods;
    }

    // ---- the floors (--floor): what a pod path cannot go below, wired with plain iproute2 ----

    /// <summary>
    /// node↔node plus one plain veth hop on each side and nothing else: a veth pair per node made by
    /// <c>ip link add</c> with the kernel's defaults (GRO off), the pod's /32 and its default route via
    /// the link-local gateway, the node's /32 route to it — the pods at <c>.6</c> of host-gw's subnets,
    /// so <see cref="HostGwRoutes"/>' routes carry them. Any veth-based pod wiring pays at least this.
    /// </summary>
    private Wiring VethHopFloor()
    {
        var pods = new string[2];
        for (var i = 0; i < 2; i++)
        {
            var (node, podIp, hostEnd) = (_nodes[i], $"10.244.{i + 1}.6", $"fvf{i}");
            scratch.CreateNetns($"-vf{i + 1}").Dispose();
            pods[i] = scratch.NameFor($"-vf{i + 1}");
            Ip(node, "link", "add", hostEnd, "mtu", $"{Mtu}", "type", "veth", "peer", "name", "eth0", "mtu", $"{Mtu}", "netns", pods[i]);
            Ip(node, "link", "set", hostEnd, "up");
            Ip(node, "route", "add", $"{podIp}/32", "dev", hostEnd);
            Ip(pods[i], "link", "set", "lo", "up");
            Ip(pods[i], "addr", "add", $"{podIp}/32", "dev", "eth0");
            Ip(pods[i], "link", "set", "eth0", "up");
            // The pod must reach its gateway's MAC somehow: pinned here as every veth wiring does it
            // (Calico answers by proxy ARP), which costs nothing once resolved.
            var mac = BenchDataplaneProbes.Exec("ip", ["-n", node, "-br", "link", "show", hostEnd]).Output.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
            Ip(pods[i], "neigh", "replace", NodeVeth.Gateway.ToString(), "lladdr", mac, "dev", "eth0", "nud", "permanent");
            Ip(pods[i], "route", "add", "default", "via", NodeVeth.Gateway.ToString(), "dev", "eth0", "onlink");
        }
        return new Wiring("veth hop (floor)", "host-gw", "floor", pods[0], pods[1], "10.244.2.6");
    }

    /// <summary>
    /// node↔node through the overlay's VXLAN devices (the VTEP addresses <c>10.246.N.0</c>), no pod and
    /// no veth: the encapsulation's cost alone. An overlay pod pays this plus its veth hop.
    /// </summary>
    private Wiring VxlanFloor() => new("vxlan (floor)", "overlay", "floor", _nodes[0], _nodes[1], "10.246.2.0");

    /// <summary>
    /// node↔node again, at the overlay's MTU (fabric − 50): a second NIC per node on the same bridge,
    /// both ends at that MTU, in 10.81.0.0/24 — no encapsulation, no pod, no veth of Fathom's. What an
    /// overlay pod's smaller MTU costs a TCP stream by itself (docs/benchmarks.md: on this kernel, any
    /// MTU below 1500 that was tried reads far below 1500), which no wiring at that MTU can go below.
    /// </summary>
    private Wiring OverlayMtuFloor(string fabric)
    {
        for (var i = 0; i < 2; i++)
        {
            HotPlugEni(fabric, i, "eth3", $"m{i}");
            Ip(fabric, "link", "set", $"m{i}", "mtu", $"{OverlayMtu}");
            Ip(_nodes[i], "link", "set", "eth3", "mtu", $"{OverlayMtu}", "up");
            Ip(_nodes[i], "addr", "add", $"10.81.0.{i + 1}/24", "dev", "eth3");
        }
        return new Wiring($"{OverlayMtuFloorPrefix}{OverlayMtu} (floor)", "overlay", "floor", _nodes[0], _nodes[1], "10.81.0.2");
    }

    private void WithNode(int node, Action<NetlinkHandle> action)
    {
        using var ns = Netns.Open(_nodes[node]);
        using var host = NetlinkHandle.OpenIn(ns);
        action(host);
    }

    private static void Ip(string netns, params string[] args) => Exec("ip", ["-n", netns, .. args]);

    private static void Sysctl(string netns, string setting) => Exec("ip", "netns", "exec", netns, "sysctl", "-qw", setting);

    private static void Exec(string file, params string[] args) => BenchDataplaneProbes.Exec(file, args);
}
