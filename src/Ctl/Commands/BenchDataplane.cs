using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;
using Fathom.Datapath;
using Fathom.Datapath.HostGw;
using Fathom.Datapath.Overlay;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>Settings of <see cref="BenchDataplane"/>.</summary>
/// <param name="Seconds">Length of one iperf3 run.</param>
/// <param name="Rounds">How many times every wiring is measured; the rounds interleave the wirings.</param>
/// <param name="Streams">Parallel TCP streams per run (iperf3 -P).</param>
/// <param name="JsonPath">Where to write every sample and ratio as JSON, or null.</param>
/// <param name="Gro">Turn on GRO of the veths of Fathom's wiring (veth NAPI GRO, ethtool -K DEV gro on), so a
/// burst crossing the node is handled as one large packet.</param>
internal sealed record BenchDataplaneOptions(int Seconds = 5, int Rounds = 3, int Streams = 1, string? JsonPath = null, bool Gro = false);

/// <summary>
/// <c>fathomctl bench dataplane</c> (issue 10 §4): TCP throughput between two pods on two nodes,
/// as a share of node↔node, for Fathom's host-gw and overlay wiring (no bridge: each pod on a
/// <see cref="NodeVeth"/>) beside the classic wiring flannel and the reference bridge plugin make
/// (a bridge per node, and for overlay a VXLAN device beside it), in one run, interleaved round
/// by round so every ratio carries its spread. Everything lives in namespaces of its own
/// (<c>fathom-bench-*</c>): two nodes on a bridged veth fabric, a pod pair per wiring.
/// </summary>
internal sealed class BenchDataplane(BenchScratch scratch, BenchDataplaneOptions options)
{
    private static readonly string[] NodeIps = ["10.80.0.1", "10.80.0.2"];

    /// <summary>One way of connecting the two endpoints: iperf3's client runs in <see cref="Client"/>, its server in <see cref="Server"/>.</summary>
    private sealed record Wiring(string Name, string Client, string Server, string ServerIp)
    {
        public List<double> Gbits { get; } = [];
        public List<double> Ratios { get; } = [];
    }

    private readonly string[] _nodes = [scratch.NameFor("-node1"), scratch.NameFor("-node2")];

    internal static readonly Option<int> Seconds = NumberOptions.Count("--seconds", "Length of one iperf3 run, in seconds.", 5);
    internal static readonly Option<int> Rounds = NumberOptions.Count("--rounds", "How many times each wiring is measured, interleaved.", 3);
    internal static readonly Option<int> Streams = NumberOptions.Count("--streams", "Parallel TCP streams per run (iperf3 -P).", 1);
    internal static readonly Option<bool> Gro = new("--gro") { Description = "Turn on GRO (ethtool -K DEV gro on) on both ends of the pod veths of Fathom's wiring." };
    internal static readonly Option<string> Json = new("--json") { Description = "Also write every sample, ratio and target to this JSON file.", HelpName = "FILE" };

    public static Command Create()
    {
        var command = new Command("dataplane", "TCP throughput pod↔pod across two nodes, as a share of node↔node: Fathom's host-gw and overlay wiring beside the classic bridge wiring.")
        {
            Seconds, Rounds, Streams, Gro, Json,
        };
        command.SetAction(parse =>
        {
            if (!Environment.IsPrivilegedProcess)
                throw new InvalidOperationException("needs root: it creates namespaces, veths, bridges and VXLAN devices (sudo fathomctl bench dataplane)");
            var options = new BenchDataplaneOptions(parse.GetValue(Seconds), parse.GetValue(Rounds), parse.GetValue(Streams), parse.GetValue(Json), parse.GetValue(Gro));
            using var scratch = new BenchScratch();
            return new BenchDataplane(scratch, options).Run();
        });
        return command;
    }

    public int Run()
    {
        var wirings = Build();
        Console.WriteLine($"fathomctl bench dataplane: iperf3, {options.Streams} TCP stream(s), {options.Seconds} s per run, {options.Rounds} round(s), interleaved");
        for (var round = 1; round <= options.Rounds && !scratch.Interrupted; round++)
        {
            foreach (var w in wirings)
            {
                if (scratch.Interrupted) break;
                w.Gbits.Add(Iperf(w));
                Console.WriteLine($"  round {round}  {w.Name,-24} {w.Gbits[^1],7:0.00} Gbit/s");
            }
            var baseline = wirings[0].Gbits.Count == round ? wirings[0].Gbits[^1] : double.NaN;
            foreach (var w in wirings.Where(w => w.Gbits.Count == round)) w.Ratios.Add(w.Gbits[^1] / baseline);
        }
        Report(wirings);
        return scratch.Interrupted ? 130 : 0;
    }

    private List<Wiring> Build()
    {
        var fabric = scratch.NameFor("-fabric");
        scratch.CreateNetns("-fabric").Dispose();
        Ip(fabric, "link", "add", "br0", "type", "bridge");
        Ip(fabric, "link", "set", "br0", "up");
        for (var i = 0; i < 2; i++)
        {
            scratch.CreateNetns($"-node{i + 1}").Dispose();
            Ip(fabric, "link", "add", $"n{i}", "type", "veth", "peer", "name", "eth0", "netns", _nodes[i]);
            Ip(fabric, "link", "set", $"n{i}", "master", "br0", "up");
            Ip(_nodes[i], "addr", "add", $"{NodeIps[i]}/24", "dev", "eth0");
            Ip(_nodes[i], "link", "set", "eth0", "up");
            Run("ip", "netns", "exec", _nodes[i], "sysctl", "-qw", "net.ipv4.ip_forward=1");
        }
        return
        [
            new Wiring("node↔node", _nodes[0], _nodes[1], NodeIps[1]),
            HostGw(),
            ClassicHostGw(),
            Overlay(),
            ClassicOverlay(),
        ];
    }

    // ---- Fathom's wiring: NodeVeth pods, routes or VTEPs from the datapath projects ----

    private Wiring HostGw()
    {
        var pods = Pods("-hg", (i, host, podNs, pod) =>
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fhg{i}", "eth0", IPAddress.Parse($"10.244.{i + 1}.5"), [IpPrefix.Parse("0.0.0.0/0")])));
        for (var i = 0; i < 2; i++)
            WithNode(i, host => HostGwRoutes.Reconcile(host, [new PeerSubnet(IpPrefix.Parse($"10.244.{2 - i}.0/24"), IPAddress.Parse(NodeIps[1 - i]))]));
        return new Wiring("host-gw (fathom)", pods[0], pods[1], "10.244.2.5");
    }

    private Wiring Overlay()
    {
        PhysicalAddress Mac(int i) => PhysicalAddress.Parse($"02-FA-00-00-00-0{i + 1}");
        for (var i = 0; i < 2; i++)
        {
            var node = i;
            WithNode(node, host => VxlanOverlay.EnsureDevice(host, new VtepSpec("fathom.1", 1, IPAddress.Parse(NodeIps[node]),
                host.GetLink("eth0").Index, 1500, IpPrefix.Parse($"10.246.{node + 1}.0/24")), Mac(node)));
        }
        for (var i = 0; i < 2; i++)
        {
            var other = 1 - i;
            WithNode(i, host => VxlanOverlay.Reconcile(host, host.GetLink("fathom.1"),
                [new PeerSubnet(IpPrefix.Parse($"10.246.{other + 1}.0/24"), IPAddress.Parse(NodeIps[other]), Mac(other))]));
        }
        var pods = Pods("-ov", (i, host, podNs, pod) =>
            NodeVeth.Create(host, podNs, pod, new NodeVethSpec($"fov{i}", "eth0", IPAddress.Parse($"10.246.{i + 1}.5"),
                [IpPrefix.Parse("0.0.0.0/0")], Mtu: 1500 - VxlanOverlay.Overhead)));
        return new Wiring("overlay (fathom)", pods[0], pods[1], "10.246.2.5");
    }

    // ---- the classic wiring, as flannel + the reference bridge plugin leave it, made with ip(8) ----

    private Wiring ClassicHostGw()
    {
        var pods = ClassicPods("-hb", "cni0", "10.245", 1500);
        for (var i = 0; i < 2; i++)
            Ip(_nodes[i], "route", "add", $"10.245.{2 - i}.0/24", "via", NodeIps[1 - i]);
        return new Wiring("host-gw (bridge)", pods[0], pods[1], "10.245.2.5");
    }

    private Wiring ClassicOverlay()
    {
        var macs = new[] { "02:fb:00:00:00:01", "02:fb:00:00:00:02" };
        for (var i = 0; i < 2; i++)
        {
            Ip(_nodes[i], "link", "add", "flannel.1", "address", macs[i], "type", "vxlan", "id", "2", "local", NodeIps[i],
                "dev", "eth0", "dstport", "8472", "nolearning");
            Ip(_nodes[i], "link", "set", "flannel.1", "mtu", "1450", "up");
            Ip(_nodes[i], "addr", "add", $"10.247.{i + 1}.0/32", "dev", "flannel.1");
        }
        var pods = ClassicPods("-ob", "cni1", "10.247", 1450);
        for (var i = 0; i < 2; i++)
        {
            var o = 1 - i;
            Ip(_nodes[i], "neigh", "replace", $"10.247.{o + 1}.0", "lladdr", macs[o], "dev", "flannel.1", "nud", "permanent");
            Run("ip", "netns", "exec", _nodes[i], "bridge", "fdb", "replace", macs[o], "dev", "flannel.1", "dst", NodeIps[o], "self", "permanent");
            Ip(_nodes[i], "route", "add", $"10.247.{o + 1}.0/24", "via", $"10.247.{o + 1}.0", "dev", "flannel.1", "onlink");
        }
        return new Wiring("overlay (bridge)", pods[0], pods[1], "10.247.2.5");
    }

    /// <summary>A bridge per node with the subnet's .1, a pod on it at .5/24 with its default route via .1.</summary>
    private string[] ClassicPods(string role, string bridge, string prefix, int mtu)
    {
        var pods = new string[2];
        for (var i = 0; i < 2; i++)
        {
            pods[i] = scratch.NameFor($"{role}{i + 1}");
            scratch.CreateNetns($"{role}{i + 1}").Dispose();
            Ip(_nodes[i], "link", "add", bridge, "mtu", $"{mtu}", "type", "bridge");
            Ip(_nodes[i], "addr", "add", $"{prefix}.{i + 1}.1/24", "dev", bridge);
            Ip(_nodes[i], "link", "set", bridge, "up");
            var port = $"v{role[1..]}{i}";
            Ip(_nodes[i], "link", "add", port, "mtu", $"{mtu}", "type", "veth", "peer", "name", "eth0", "mtu", $"{mtu}", "netns", pods[i]);
            Ip(_nodes[i], "link", "set", port, "master", bridge, "up");
            Ip(pods[i], "addr", "add", $"{prefix}.{i + 1}.5/24", "dev", "eth0");
            Ip(pods[i], "link", "set", "eth0", "up");
            Ip(pods[i], "route", "add", "default", "via", $"{prefix}.{i + 1}.1");
        }
        return pods;
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
            if (options.Gro)
            {
                Run("ip", "netns", "exec", pods[i], "ethtool", "-K", "eth0", "gro", "on");
                Run("ip", "netns", "exec", _nodes[i], "ethtool", "-K", $"f{role[1..]}{i}", "gro", "on");
            }
        }
        return pods;
    }

    private void WithNode(int node, Action<NetlinkHandle> action)
    {
        using var ns = Netns.Open(_nodes[node]);
        using var host = NetlinkHandle.OpenIn(ns);
        action(host);
    }

    // ---- measuring ----

    private double Iperf(Wiring w)
    {
        using var server = Process.Start(Psi("ip", "netns", "exec", w.Server, "iperf3", "-s", "-1", "-B", w.ServerIp))
            ?? throw new InvalidOperationException("cannot start iperf3");
        try
        {
            var args = new List<string> { "netns", "exec", w.Client, "iperf3", "-c", w.ServerIp, "-t", $"{options.Seconds}", "-J",
                "--connect-timeout", "1000", "-P", $"{options.Streams}" };
            for (var attempt = 0; ; attempt++)
            {
                var (code, stdout) = Run("ip", [.. args], check: false);
                if (code == 0 && ReceivedGbits(stdout) is double gbits) return gbits;
                if (attempt == 20) throw new InvalidOperationException($"iperf3 {w.Name} failed: {stdout}");
                Thread.Sleep(100); // the server is not listening yet
            }
        }
        finally
        {
            if (!server.HasExited) server.Kill();
            server.WaitForExit();
        }
    }

    private static double? ReceivedGbits(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return doc.RootElement.TryGetProperty("end", out var end) && end.TryGetProperty("sum_received", out var sum)
                && sum.TryGetProperty("bits_per_second", out var bps) ? bps.GetDouble() / 1e9 : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private void Report(List<Wiring> wirings)
    {
        var baseline = Median(wirings[0].Gbits);
        Console.WriteLine();
        Console.WriteLine($"{"wiring",-24} {"Gbit/s",8} {"/ node↔node",12} {"spread",16}");
        foreach (var w in wirings)
            Console.WriteLine($"{w.Name,-24} {Median(w.Gbits),8:0.00} {Median(w.Ratios),11:0.0%} {$"{w.Ratios.DefaultIfEmpty(double.NaN).Min():0.0%}–{w.Ratios.DefaultIfEmpty(double.NaN).Max():0.0%}",16}");
        var targets = new (string Name, double Value, double Limit)[]
        {
            ("host-gw (fathom) / node↔node", Median(wirings[1].Ratios), 0.95),
            ("overlay (fathom) / node↔node", Median(wirings[3].Ratios), 0.80),
            ("host-gw: fathom / bridge", Median(wirings[1].Gbits) / Median(wirings[2].Gbits), 1.0),
            ("overlay: fathom / bridge", Median(wirings[3].Gbits) / Median(wirings[4].Gbits), 1.0),
        };
        Console.WriteLine();
        foreach (var (name, value, limit) in targets)
            Console.WriteLine($"target {name,-32} {value,7:0.000} ≥ {limit:0.00}  {(value >= limit ? "met" : "NOT met")}");
        if (options.JsonPath is null) return;
        using var file = File.Create(options.JsonPath);
        using var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteNumber("seconds", options.Seconds);
        json.WriteNumber("streams", options.Streams);
        json.WriteNumber("baselineGbits", baseline);
        json.WriteStartArray("wirings");
        foreach (var w in wirings)
        {
            json.WriteStartObject();
            json.WriteString("name", w.Name);
            json.WriteNumber("medianGbits", Median(w.Gbits));
            json.WriteNumber("medianRatio", Median(w.Ratios));
            json.WriteStartArray("gbits");
            foreach (var g in w.Gbits) json.WriteNumberValue(g);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("targets");
        foreach (var (name, value, limit) in targets)
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            json.WriteNumber("value", double.IsFinite(value) ? value : 0);
            json.WriteNumber("limit", limit);
            json.WriteBoolean("met", value >= limit);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static double Median(List<double> samples) => BenchScratch.Percentile(samples, 0.5);

    private static void Ip(string netns, params string[] args) => Run("ip", ["-n", netns, .. args]);

    private static (int Code, string Stdout) Run(string file, string[] args, bool check = true)
    {
        using var p = Process.Start(Psi(file, args)) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {stderr.Trim()}");
        return (p.ExitCode, p.ExitCode == 0 ? stdout.Result : stdout.Result + stderr);
    }

    private static void Run(string file, params string[] args) => Run(file, args, check: true);

    private static ProcessStartInfo Psi(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }
}
