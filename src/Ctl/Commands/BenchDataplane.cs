using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Fathom.Ctl;

/// <summary>Settings of <see cref="BenchDataplane"/>.</summary>
/// <param name="Seconds">Length of one iperf3 or sockperf run.</param>
/// <param name="Rounds">How many times every wiring is measured; the rounds interleave the wirings.</param>
/// <param name="JsonPath">Where to write every sample, ratio and target as JSON, or null.</param>
/// <param name="NoGro">Turn GRO off on the veths of Fathom's host-gw and overlay wiring (NodeVeth turns it on: veth NAPI GRO), to show what it buys.</param>
/// <param name="CniPath">Where the reference plugins (bridge, host-local) are.</param>
/// <param name="Congestion">The TCP congestion control of every TCP run (iperf3 <c>-C</c>), or null for each namespace's default.</param>
/// <param name="Floor">Also measure the floors: a plain veth hop on each side, the VXLAN devices without a pod, and node↔node at the overlay's MTU.</param>
/// <param name="Loads">Which loads run (<see cref="DataplaneMeasure.Loads"/>: tcp1, tcp8, udp, rtt); null: all of them.</param>
/// <param name="FabricMtu">The fabric's MTU (the nodes' NICs, the ENIs, the VPC's bridge); pods get it, overlay pods 50 less.</param>
internal sealed record BenchDataplaneOptions(int Seconds = 1, int Rounds = 2, string? JsonPath = null, bool NoGro = false,
    string CniPath = "/usr/lib/cni", string? Congestion = BenchDataplane.DefaultCongestion, bool Floor = false,
    IReadOnlyCollection<string>? Loads = null, int FabricMtu = 1500)
{
    /// <summary>The measures the chosen loads give, in the order of the table.</summary>
    public DataplaneMeasure[] Measures => Loads is null ? DataplaneMeasure.All : DataplaneMeasure.Of(Loads);
}

/// <summary>
/// <c>fathomctl bench dataplane</c> (issue 12 §1, DESIGN.md §8): two pods on two nodes, as shares of
/// node↔node, for each of Fathom's modes — underlay (a whole ENI in the pod), shared (a secondary
/// IP behind a veth and policy routing), host-gw and overlay (a veth per pod, no bridge; each also
/// with the tc BPF pod path, <see cref="Fathom.Datapath.PodRedirect"/>) — beside
/// the pair wired as flannel wires it with the reference bridge + host-local plugins. Measures TCP
/// with 1 and 8 streams, 64-byte UDP packet rate (iperf3), TCP request/response round trip p50 and
/// p99 (sockperf) and CPU seconds per Gbit. Every round measures every wiring, one measure at a
/// time, so the machine's drift lands on all of them alike and every ratio carries its spread.
/// Everything lives in namespaces of its own (<c>fathom-bench-*</c>, or <c>--netns-prefix</c>): a fabric
/// bridge (the VPC's subnet and its router), two nodes, a pod pair per wiring.
/// </summary>
internal sealed partial class BenchDataplane(BenchScratch scratch, BenchDataplaneOptions options)
{
    private readonly string[] _nodes = [scratch.NameFor("-node1"), scratch.NameFor("-node2")];

    internal static readonly Option<int> Seconds = NumberOptions.Count("--seconds", "Length of one iperf3 or sockperf run, in seconds.", 1);
    internal static readonly Option<int> Rounds = NumberOptions.Count("--rounds", "How many times each wiring is measured, interleaved.", 2);
    internal static readonly Option<int> FabricMtu = NumberOptions.Mtu("--fabric-mtu",
        "The fabric's MTU: the nodes' NICs, the ENIs and the VPC's bridge, and so every pod's (overlay pods 50 less). 9001 is EC2's inside a VPC.", 1500);
    internal static readonly Option<bool> NoGro = new("--no-gro") { Description = "Turn GRO off on both ends of the pod veths of Fathom's host-gw and overlay wiring (on by default, as Fathom wires pods), to show what it buys." };
    internal static readonly Option<string> Json = new("--json") { Description = "Also write every sample, ratio and target to this JSON file (bench report reads it).", HelpName = "FILE" };
    internal static readonly Option<string> CniPath = new("--cni-path") { Description = "Where the reference plugins bridge and host-local are.", DefaultValueFactory = _ => "/usr/lib/cni", HelpName = "DIR" };

    /// <summary>
    /// The kernel's own default (net/ipv4/tcp_cong.c), named so the figures do not follow the host: a
    /// host that set BBR hands it to every new namespace, and BBR paces (an hrtimer per burst without
    /// the fq qdisc), so a loaded machine's timers, not the data path, set its rate (docs/benchmarks.md).
    /// </summary>
    internal const string DefaultCongestion = "cubic";

    internal static readonly Option<string> Congestion = new("--congestion")
    {
        Description = "TCP congestion control of every TCP run (iperf3 -C), the same for every wiring; 'default' keeps each namespace's (inherited from the host).",
        DefaultValueFactory = _ => DefaultCongestion,
        HelpName = "NAME",
    };
    internal static readonly Option<string> LoadsOption = new("--loads")
    {
        Description = "Which loads to run, comma-separated: tcp1 (with CPU per Gbit), tcp8, udp, rtt. Fewer loads, a shorter run; the targets read tcp1 and rtt. [default: all]",
        HelpName = "LIST",
    };
    internal static readonly Option<bool> Floor = new("--floor") { Description = "Also measure the floors: node↔node plus one plain veth hop per side ('veth hop (floor)'), node↔node through the VXLAN devices without a pod ('vxlan (floor)'), and node↔node over NICs at the overlay's MTU ('node MTU 1450 (floor)', the fabric's MTU − 50)." };
    internal static readonly Option<string> NetnsPrefix = new("--netns-prefix")
    {
        Description = "Prefix of every namespace and scratch folder of the run (a random part follows it).",
        DefaultValueFactory = _ => BenchScratch.DefaultPrefix,
        HelpName = "PREFIX",
    };

    static BenchDataplane()
    {
        NetnsPrefix.Validators.Add(r =>
        {
            if (BenchScratch.PrefixError(r.GetValueOrDefault<string>()) is { } error) r.AddError($"--netns-prefix: {error}");
        });
        LoadsOption.Validators.Add(r =>
        {
            var text = r.GetValueOrDefault<string>() ?? "";
            var known = DataplaneMeasure.Loads.Select(l => l.Load).ToList();
            var asked = ParseLoads(text);
            if (asked.Count == 0 || !asked.All(known.Contains))
                r.AddError($"--loads \"{text}\": a comma-separated list of {string.Join(", ", known)}");
        });
        Congestion.Validators.Add(r =>
        {
            var name = r.GetValueOrDefault<string>();
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
                r.AddError($"--congestion \"{name}\": a congestion control's name (cubic, bbr, reno…) or 'default'");
        });
    }

    public static Command Create()
    {
        var command = new Command("dataplane", "Pod↔pod across two nodes as a share of node↔node — TCP 1 and 8 streams, UDP packet rate, RTT p50/p99, CPU per Gbit — for underlay, shared, host-gw and overlay beside the classic bridge wiring.")
        {
            Seconds, Rounds, LoadsOption, NoGro, Json, CniPath, Congestion, Floor, FabricMtu, NetnsPrefix,
        };
        command.SetAction(parse =>
        {
            if (!Environment.IsPrivilegedProcess)
                throw new InvalidOperationException("needs root: it creates namespaces, veths, bridges and VXLAN devices (as root: fathomctl bench dataplane)");
            var congestion = parse.GetValue(Congestion)!;
            var options = new BenchDataplaneOptions(parse.GetValue(Seconds), parse.GetValue(Rounds), parse.GetValue(Json), parse.GetValue(NoGro),
                parse.GetValue(CniPath)!, congestion == "default" ? null : congestion, parse.GetValue(Floor),
                parse.GetValue(LoadsOption) is { } loads ? ParseLoads(loads) : null, parse.GetValue(FabricMtu));
            if (options.Congestion is { } cc) RequireCongestion(cc);
            using var scratch = new BenchScratch(parse.GetValue(NetnsPrefix)!);
            return new BenchDataplane(scratch, options).Run();
        });
        return command;
    }

    internal static HashSet<string> ParseLoads(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    /// <summary>Fails before anything is built when the kernel lacks the congestion control (iperf3 would fail every TCP run).</summary>
    private static void RequireCongestion(string name)
    {
        const string available = "/proc/sys/net/ipv4/tcp_available_congestion_control";
        var known = File.Exists(available) ? File.ReadAllText(available).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        if (!known.Contains(name))
            throw new InvalidOperationException($"--congestion {name}: not available in this kernel ({available}: {string.Join(' ', known)}); load its module (modprobe tcp_{name}) or choose another");
    }

    public int Run()
    {
        var wirings = Build();
        Console.WriteLine($"fathomctl bench dataplane: {wirings.Count} wirings × {options.Measures.Length} measures, {options.Seconds} s per run, {options.Rounds} round(s), interleaved, TCP congestion control {options.Congestion ?? "each namespace's default"}, fabric MTU {options.FabricMtu}, in namespaces {scratch.NameFor("-*")}");
        for (var round = 1; round <= options.Rounds && !scratch.Interrupted; round++)
        {
            MeasureRound(wirings, round);
            foreach (var w in wirings)
                foreach (var m in DataplaneMeasure.All)
                    if (w.Samples[m.Key].Count == round && wirings[0].Samples[m.Key].Count == round)
                        w.Ratios[m.Key].Add(w.Samples[m.Key][^1] / wirings[0].Samples[m.Key][^1]);
        }
        var targets = Targets(wirings);
        PrintTable(wirings, targets, options.Measures);
        if (options.JsonPath is not null) WriteJson(options.JsonPath, wirings, targets);
        return scratch.Interrupted ? 130 : 0;
    }

    /// <summary>One round: each load in turn over every wiring, a progress line per run.</summary>
    private void MeasureRound(List<Wiring> wirings, int round)
    {
        var loads = new (string Key, string Name, Action<Wiring> Run)[]
        {
            ("tcp1", "TCP×1", w =>
            {
                var r = BenchDataplaneProbes.Tcp(w.Client, w.Server, w.ServerIp, options.Seconds, 1, options.Congestion);
                w.Samples["tcp1"].Add(r.Gbits);
                w.Samples["cpu"].Add(r.CpuPerGbit);
                Progress(round, "TCP×1", w, $"{r.Gbits,7:0.00} Gbit/s  {r.CpuPerGbit,6:0.000} CPU s/Gbit");
            }),
            ("tcp8", "TCP×8", w =>
            {
                var r = BenchDataplaneProbes.Tcp(w.Client, w.Server, w.ServerIp, options.Seconds, 8, options.Congestion);
                w.Samples["tcp8"].Add(r.Gbits);
                Progress(round, "TCP×8", w, $"{r.Gbits,7:0.00} Gbit/s");
            }),
            ("udp", "UDP", w =>
            {
                var r = BenchDataplaneProbes.Udp(w.Client, w.Server, w.ServerIp, options.Seconds);
                w.Samples["udp"].Add(r.Kpps);
                Progress(round, "UDP 64 B", w, $"{r.Kpps,7:0} kpps");
            }),
            ("rtt", "RTT", w =>
            {
                var (p50, p99) = BenchDataplaneProbes.PingPong(w.Client, w.Server, w.ServerIp, options.Seconds);
                w.Samples["rttP50"].Add(p50);
                w.Samples["rttP99"].Add(p99);
                Progress(round, "RTT", w, $"p50 {p50,6:0.0} µs  p99 {p99,7:0.0} µs");
            }),
        };
        foreach (var (key, name, load) in loads.Where(l => options.Loads?.Contains(l.Key) != false))
            foreach (var w in wirings)
            {
                if (scratch.Interrupted) return;
                try
                {
                    load(w);
                }
                catch (InvalidOperationException e)
                {
                    // One wiring that stops answering costs its own samples, not the whole run: said here,
                    // its figures stay empty (null in the JSON) and its targets are not met.
                    w.Failures.Add($"round {round} {name}: {e.Message.Split('\n')[0]}");
                    foreach (var m in DataplaneMeasure.Loads.Single(l => l.Load == key).Measures)
                        w.Samples[m.Key].Add(double.NaN); // the rounds stay aligned
                    Console.WriteLine($"  round {round}/{options.Rounds}  {name,-8} {w.Name,-18} FAILED: {e.Message.Split('\n')[0]}");
                }
            }
    }

    private void Progress(int round, string load, Wiring w, string figures) =>
        Console.WriteLine($"  round {round}/{options.Rounds}  {load,-8} {w.Name,-18} {figures}");

    /// <summary>DESIGN.md §9's data-plane targets, each a ratio of medians of this run; those of a load not run are left out.</summary>
    internal static List<BenchTarget> Targets(List<Wiring> wirings)
    {
        Wiring W(string name) => wirings.Single(w => w.Name == name);
        double Ratio(string name, string key) => Median(W(name).Ratios[key]);
        double Versus(string a, string b, string key) => Median(W(a).Samples[key]) / Median(W(b).Samples[key]);
        bool Ran(string key) => wirings.Any(w => w.Samples[key].Count > 0);
        var targets = new List<BenchTarget>();
        if (Ran("tcp1"))
            targets.Add(BenchTarget.AtLeast("underlay throughput / node↔node (TCP×1)", Ratio("underlay (fathom)", "tcp1"), 0.98));
        if (Ran("rttP50"))
            targets.Add(BenchTarget.AtMost("underlay RTT p50 / node↔node", Ratio("underlay (fathom)", "rttP50"), 1.05));
        if (!Ran("tcp1")) return targets;
        targets.AddRange(
        [
            BenchTarget.AtLeast("host-gw throughput / node↔node (TCP×1)", Ratio("host-gw (fathom)", "tcp1"), 0.95),
            BenchTarget.AtLeast("host-gw throughput: fathom / bridge wiring", Versus("host-gw (fathom)", "host-gw (bridge)", "tcp1"), 1.0),
            BenchTarget.AtLeast("overlay throughput / node↔node (TCP×1)", Ratio("overlay (fathom)", "tcp1"), 0.80),
            BenchTarget.AtLeast("overlay throughput: fathom / bridge wiring", Versus("overlay (fathom)", "overlay (bridge)", "tcp1"), 1.0),
            BenchTarget.AtLeast("shared throughput / reference bridge wiring", Versus("shared (fathom)", "host-gw (bridge)", "tcp1"), 1.0),
        ]);
        // The same targets for the tc BPF pod path, where the kernel took its programs.
        foreach (var (mode, floor) in new[] { ("host-gw", 0.95), ("overlay", 0.80) })
        {
            if (!wirings.Any(w => w.Name == $"{mode} (bpf)")) continue;
            targets.Add(BenchTarget.AtLeast($"{mode} (bpf) throughput / node↔node (TCP×1)", Ratio($"{mode} (bpf)", "tcp1"), floor));
            targets.Add(BenchTarget.AtLeast($"{mode} (bpf) throughput: fathom / bridge wiring", Versus($"{mode} (bpf)", $"{mode} (bridge)", "tcp1"), 1.0));
        }
        return targets;
    }

    /// <summary>
    /// With <c>--floor</c>: how far each floor sits below node↔node, and Fathom's wiring as a share of
    /// its floor (TCP×1 and CPU per Gbit, ratios of this run's medians) — how much of the gap is the
    /// wiring's and how much the kernel's.
    /// </summary>
    internal static List<string> FloorLines(List<Wiring> wirings)
    {
        double Med(string name, string key) => wirings.SingleOrDefault(w => w.Name == name) is { } w ? Median(w.Samples[key]) : double.NaN;
        var lines = new List<string>();
        var mtuFloor = wirings.FirstOrDefault(w => w.Name.StartsWith(OverlayMtuFloorPrefix, StringComparison.Ordinal))?.Name ?? "";
        foreach (var (fathom, floor) in new[] { ("host-gw (fathom)", "veth hop (floor)"), ("overlay (fathom)", "vxlan (floor)"),
                     ("overlay (fathom)", mtuFloor), ("overlay (bpf)", mtuFloor) })
        {
            if (!wirings.Any(w => w.Name == floor)) continue;
            lines.Add(string.Create(CultureInfo.InvariantCulture,
                $"floor  {floor}: TCP×1 {Med(floor, "tcp1") / Med("node↔node", "tcp1"):0.00} of node↔node, CPU/Gbit {Med(floor, "cpu") / Med("node↔node", "cpu"):0.00}×; " +
                $"{fathom}: TCP×1 {Med(fathom, "tcp1") / Med(floor, "tcp1"):0.00} of the floor, CPU/Gbit {Med(fathom, "cpu") / Med(floor, "cpu"):0.00}× the floor's"));
        }
        return lines;
    }

    private static void PrintTable(List<Wiring> wirings, List<BenchTarget> targets, DataplaneMeasure[] measures)
    {
        Console.WriteLine();
        Console.WriteLine($"{"wiring",-18} " + string.Join(" ", measures.Select(m => $"{$"{m.Title} {m.Unit}",20}")));
        foreach (var w in wirings)
        {
            var cells = measures.Select(m =>
            {
                var value = Median(w.Samples[m.Key]);
                var ratio = w.Ratios[m.Key].Where(double.IsFinite).ToList();
                var spread = ratio.Count > 1 ? $"±{(ratio.Max() - ratio.Min()) / 2:0%}" : "";
                var format = m.Unit switch { "Gbit/s" => "0.00", "kpps" => "0", "µs" => "0.0", _ => "0.000" };
                return $"{$"{value.ToString(format, CultureInfo.InvariantCulture)} {Median(ratio):0%}{spread}",20}";
            });
            Console.WriteLine($"{w.Name,-18} " + string.Join(" ", cells));
        }
        Console.WriteLine("(each cell: median, then median ratio to node↔node ± half its spread over the rounds)");
        Console.WriteLine();
        foreach (var t in targets) Console.WriteLine(t.Line);
        foreach (var line in FloorLines(wirings)) Console.WriteLine(line);
        foreach (var w in wirings.Where(w => w.Failures.Count > 0))
            Console.WriteLine($"{w.Name}: {w.Failures.Count} run(s) failed — {string.Join("; ", w.Failures)}");
    }

    private void WriteJson(string path, List<Wiring> wirings, List<BenchTarget> targets)
    {
        using var file = File.Create(path);
        using var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("bench", "dataplane");
        json.WriteNumber("seconds", options.Seconds);
        json.WriteNumber("rounds", options.Rounds);
        if (options.Congestion is { } cc) json.WriteString("congestion", cc);
        else json.WriteNull("congestion");
        json.WriteNumber("fabricMtu", options.FabricMtu);
        json.WriteStartArray("measures");
        foreach (var m in options.Measures)
        {
            json.WriteStartObject();
            json.WriteString("key", m.Key);
            json.WriteString("title", m.Title);
            json.WriteString("unit", m.Unit);
            json.WriteBoolean("higherIsBetter", m.HigherIsBetter);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("wirings");
        foreach (var w in wirings)
        {
            json.WriteStartObject();
            json.WriteString("name", w.Name);
            json.WriteString("mode", w.Mode);
            json.WriteString("family", w.Family);
            WriteSeries(json, "median", w.Samples, s => [Median(s)]);
            WriteSeries(json, "medianRatio", w.Ratios, s => [Median(s)]);
            WriteSeries(json, "samples", w.Samples, s => s);
            WriteSeries(json, "ratios", w.Ratios, s => s);
            json.WriteStartArray("failures");
            foreach (var f in w.Failures) json.WriteStringValue(f);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        BenchTarget.Write(json, targets);
        json.WriteEndObject();
    }

    private static void WriteSeries(Utf8JsonWriter json, string name, Dictionary<string, List<double>> series, Func<List<double>, IEnumerable<double>> values)
    {
        json.WriteStartObject(name);
        foreach (var (key, samples) in series)
        {
            var v = values(samples).ToList();
            if (name.StartsWith("median", StringComparison.Ordinal)) BenchTarget.WriteNumber(json, key, v[0]);
            else
            {
                json.WriteStartArray(key);
                foreach (var x in v)
                {
                    if (double.IsFinite(x)) json.WriteNumberValue(x);
                    else json.WriteNullValue(); // a failed run
                }
                json.WriteEndArray();
            }
        }
        json.WriteEndObject();
    }

    private static double Median(List<double> samples) => BenchScratch.Percentile(samples.Where(double.IsFinite), 0.5);
}
