using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Fathom.Ctl;

/// <summary>The sections of <c>report.md</c> and the charts, each from one bench's JSON.</summary>
internal static class ReportSections
{
    /// <summary>One wiring of <c>bench dataplane --json</c>.</summary>
    internal sealed record DataplaneRow(string Name, string Mode, string Family, Dictionary<string, double> Median,
        Dictionary<string, double> MedianRatio, Dictionary<string, double[]> Samples, Dictionary<string, double[]> Ratios)
    {
        /// <summary>Half the spread of the samples (max − min) / 2, for error bars.</summary>
        public double HalfSpread(string key) => Samples.TryGetValue(key, out var s) && s.Length > 1 ? (s.Max() - s.Min()) / 2 : 0;
    }

    /// <summary>DESIGN.md §9's rows, and the words a measured target's name holds when it is that row's.</summary>
    internal static readonly (string What, string Target, string[] Words)[] DesignTargets =
    [
        ("underlay throughput / latency", "≥ 98 % of node↔node; RTT p50 ≤ 105 %", ["underlay", "node↔node"]),
        ("host-gw / overlay throughput", "≥ 95 % / ≥ 80 % of node↔node, and ≥ the classic bridge wiring", ["throughput", "bridge"]),
        ("shared", "≥ the reference bridge wiring in the same run", ["shared", "bridge"]),
        ("underlay ADD, warm pool", "≤ one bare netns move + 3 ms, median", ["underlay", "add"]),
        ("DEL, every mode", "≤ 5 ms median", ["del"]),
        ("shared ADD / ADD+DEL, warm pool", "≤ 0.35 × / ≤ 0.25 × reference bridge + host-local", ["shared", "add"]),
        ("shared ADD p99, 32 concurrent", "≤ 20 ms", ["shared", "p99"]),
        ("underlay pods per second, 32 concurrent", "≥ 0.9 × bare moves per second", ["underlay", "per second"]),
        ("cold pool, 500 ms attach latency", "first pod networked ≤ attach latency + 1 s", ["cold"]),
        ("`fathom` start (VERSION)", "faster than the Go reference plugins", ["version"]),
        ("agent memory", "≤ 40 MiB idle, ≤ 64 MiB with 700 allocations", ["memory"]),
        ("lab scale", "4 × c5.4xlarge filled (928 pods), all reachable; 100 simulated agents under EC2's account limits", ["pods"]),
        ("faults", "0 leaked ENIs/IPs, 0 duplicates after SIGKILLs, throttling, etcd member loss", ["leak"]),
    ];

    public static List<DataplaneRow> DataplaneRows(JsonElement root)
    {
        static Dictionary<string, double> Numbers(JsonElement o) => o.ValueKind != JsonValueKind.Object ? [] :
            o.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble() : double.NaN);
        static Dictionary<string, double[]> Arrays(JsonElement o) => o.ValueKind != JsonValueKind.Object ? [] :
            o.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray()
                .Select(v => v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN).Where(double.IsFinite).ToArray());
        static JsonElement Get(JsonElement e, string name) => e.TryGetProperty(name, out var v) ? v : default;
        if (!root.TryGetProperty("wirings", out var wirings)) return [];
        return [.. wirings.EnumerateArray().Select(w => new DataplaneRow(
            Get(w, "name").GetString() ?? "?", Get(w, "mode").GetString() ?? "?", Get(w, "family").GetString() ?? "?",
            Numbers(Get(w, "median")), Numbers(Get(w, "medianRatio")), Arrays(Get(w, "samples")), Arrays(Get(w, "ratios"))))];
    }

    /// <summary>Writes every chart the inputs allow into <paramref name="dir"/>.</summary>
    public static List<ReportChart> Charts(ReportInputs inputs, string dir)
    {
        var charts = new List<ReportChart>();
        if (inputs.Dataplane is { } dp)
        {
            var rows = DataplaneRows(dp);
            foreach (var m in DataplaneMeasure.In(dp))
            {
                var title = $"{m.Title} per mode, pod↔pod across two nodes — Fathom beside the classic wiring";
                var groups = Groups(rows, m.Key);
                if (groups.Count == 0) continue;
                var file = $"dataplane-{m.Key}.png";
                var baseline = rows.FirstOrDefault(r => r.Family == "baseline")?.Median.GetValueOrDefault(m.Key);
                ReportCharts.Bars(Path.Combine(dir, file), title, m.Unit, groups, baseline);
                charts.Add(new ReportChart(file, title));
            }
        }
        if (inputs.Cni is { } cni && AddLatencySeries(cni) is { Count: > 0 } series)
        {
            const string title = "CNI ADD latency p50 per mode and concurrency";
            ReportCharts.Lines(Path.Combine(dir, "cni-add.png"), title, "concurrent ADDs", "ms", series);
            charts.Add(new ReportChart("cni-add.png", title));
        }
        return charts;
    }

    /// <summary>Per mode: Fathom's median and spread beside the classic wiring's; node↔node first.</summary>
    internal static List<ReportCharts.ModeBars> Groups(List<DataplaneRow> rows, string key)
    {
        var groups = new List<ReportCharts.ModeBars>();
        foreach (var mode in rows.Select(r => r.Mode).Distinct())
        {
            var baseline = rows.FirstOrDefault(r => r.Mode == mode && r.Family == "baseline");
            var fathom = rows.FirstOrDefault(r => r.Mode == mode && r.Family == "fathom");
            var classic = rows.FirstOrDefault(r => r.Mode == mode && r.Family == "classic");
            if (baseline is not null)
                groups.Add(new(baseline.Name, baseline.Median.GetValueOrDefault(key, double.NaN), baseline.HalfSpread(key), double.NaN, 0, true));
            else if (fathom is not null || classic is not null)
                groups.Add(new(mode, fathom?.Median.GetValueOrDefault(key, double.NaN) ?? double.NaN, fathom?.HalfSpread(key) ?? 0,
                    classic?.Median.GetValueOrDefault(key, double.NaN) ?? double.NaN, classic?.HalfSpread(key) ?? 0, false));
        }
        return groups;
    }

    /// <summary>
    /// ADD latency p50 (ms) by concurrency, one series per mode or plugin, read from whatever
    /// objects in <c>bench cni --json</c> carry a <c>concurrency</c> number, a name (<c>mode</c>,
    /// <c>plugin</c> or <c>name</c>, with <c>pool</c> when there is one) and an ADD p50 (a number
    /// whose key holds "add" and "p50", or <c>p50</c>/<c>p50Ms</c> where <c>op</c> is ADD).
    /// </summary>
    internal static Dictionary<string, List<(double X, double Y)>> AddLatencySeries(JsonElement root)
    {
        var series = new Dictionary<string, List<(double, double)>>();
        void Visit(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Array)
                foreach (var item in e.EnumerateArray()) Visit(item);
            if (e.ValueKind != JsonValueKind.Object) return;
            if (e.TryGetProperty("concurrency", out var c) && c.ValueKind == JsonValueKind.Number && AddP50(e) is double p50)
            {
                var name = new[] { "mode", "plugin", "name" }.Select(k => e.TryGetProperty(k, out var v) ? v.GetString() : null).FirstOrDefault(s => s is not null) ?? "?";
                if (e.TryGetProperty("pool", out var pool) && pool.GetString() is string p) name += $" ({p} pool)";
                if (!series.TryGetValue(name, out var points)) series[name] = points = [];
                points.Add((c.GetDouble(), p50));
            }
            foreach (var p in e.EnumerateObject()) Visit(p.Value);
        }
        Visit(root);
        FromFigures(root, series);
        return series;
    }

    /// <summary>
    /// <c>bench cni --json</c>'s own shape: named figures (<c>"underlay ADD (warm pool)"</c> at
    /// concurrency 1, <c>"underlay ADD, concurrent"</c> at <c>context.options.concurrency</c>, the
    /// named device's and the reference plugins' ADDs at 1), medians in ms.
    /// </summary>
    private static void FromFigures(JsonElement root, Dictionary<string, List<(double X, double Y)>> series)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("figures", out var figures) || figures.ValueKind != JsonValueKind.Array)
            return;
        var concurrent = root.TryGetProperty("context", out var context) && context.TryGetProperty("options", out var options) &&
                         options.TryGetProperty("concurrency", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetDouble() : 32;
        foreach (var figure in figures.EnumerateArray())
        {
            if (figure.TryGetProperty("name", out var n) is false || n.GetString() is not string name ||
                !figure.TryGetProperty("median", out var m) || m.ValueKind != JsonValueKind.Number)
                continue;
            (string Series, double X)? point = name switch
            {
                "underlay ADD (warm pool)" => ("underlay (agent)", 1),
                "underlay ADD, concurrent" => ("underlay (agent)", concurrent),
                "shared ADD (warm pool)" => ("shared (agent)", 1),
                "host-gw ADD (warm)" => ("host-gw (agent)", 1),
                "overlay ADD" => ("overlay (agent)", 1),
                "shared ADD, concurrent" => ("shared (agent)", concurrent),
                "bridge+host-local ADD" => ("bridge+host-local", 1),
                "named device: fathom ADD" => ("fathom, named device", 1),
                "named device: host-device ADD" => ("host-device", 1),
                // Since issue 12 §2 one figure per level: "shared ADD, 8 concurrent".
                _ when System.Text.RegularExpressions.Regex.Match(name, @"^(underlay|shared|host-gw|overlay) ADD, (\d+) concurrent$") is { Success: true } level =>
                    ($"{level.Groups[1].Value} (agent)", double.Parse(level.Groups[2].Value, CultureInfo.InvariantCulture)),
                _ => null,
            };
            if (point is not { } p) continue;
            if (!series.TryGetValue(p.Series, out var points)) series[p.Series] = points = [];
            points.Add((p.X, m.GetDouble()));
        }
    }

    private static double? AddP50(JsonElement e)
    {
        var isAdd = e.TryGetProperty("op", out var op) && string.Equals(op.GetString(), "ADD", StringComparison.OrdinalIgnoreCase);
        foreach (var p in e.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number) continue;
            var key = p.Name.ToLowerInvariant();
            if (key.Contains("p50", StringComparison.Ordinal) && (key.Contains("add", StringComparison.Ordinal) && !key.Contains("del", StringComparison.Ordinal) || isAdd))
                return p.Value.GetDouble();
        }
        return null;
    }

    public static string Markdown(ReportInputs inputs, List<ReportChart> charts)
    {
        var md = new StringBuilder();
        md.AppendLine("# Fathom benchmark report").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Generated {DateTimeOffset.UtcNow:u} on {Environment.ProcessorCount} cores, kernel {Environment.OSVersion.Version}, by `fathomctl bench report` from the benches' JSON of this run (docs/benchmarks.md explains every figure).").AppendLine();
        Targets(md, inputs.Targets);
        if (inputs.Dataplane is { } dp) Dataplane(md, dp, charts);
        if (inputs.Cni is { } cni) Cni(md, cni, charts);
        if (inputs.Scale is { } scale) Scale(md, scale);
        return md.ToString();
    }

    private static void Targets(StringBuilder md, List<BenchTarget> targets)
    {
        md.AppendLine("## Targets (DESIGN.md §9)").AppendLine();
        md.AppendLine("| bench | what | measured | target | |").AppendLine("|---|---|---:|---|---|");
        foreach (var t in targets)
            md.AppendLine(CultureInfo.InvariantCulture, $"| {t.Source} | {t.Name} | {BenchTarget.Format(t.Value)} | {t.Op} {BenchTarget.Format(t.Limit)} | {(t.Met ? "met" : "**not met**")} |");
        var uncovered = DesignTargets.Where(d => !targets.Any(t => d.Words.All(w => t.Name.Contains(w, StringComparison.OrdinalIgnoreCase)))).ToList();
        if (uncovered.Count > 0)
        {
            md.AppendLine().AppendLine("Not measured by this run:").AppendLine();
            foreach (var (what, target, _) in uncovered) md.AppendLine(CultureInfo.InvariantCulture, $"- {what}: {target}");
        }
        md.AppendLine();
    }

    private static void Dataplane(StringBuilder md, JsonElement dp, List<ReportChart> charts)
    {
        var rows = DataplaneRows(dp);
        var seconds = dp.TryGetProperty("seconds", out var s) ? s.GetInt32() : 0;
        var rounds = dp.TryGetProperty("rounds", out var r) ? r.GetInt32() : 0;
        md.AppendLine("## Data plane (`bench dataplane`)").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Two pods on two nodes, {rounds} interleaved round(s) of {seconds} s runs. Each cell: the median, then (in brackets) the median ratio to node↔node and its range over the rounds.").AppendLine();
        var measures = DataplaneMeasure.In(dp);
        md.AppendLine("| wiring | " + string.Join(" | ", measures.Select(m => $"{m.Title} ({m.Unit})")) + " |");
        md.AppendLine("|---|" + string.Concat(measures.Select(_ => "---:|")));
        foreach (var row in rows)
        {
            var cells = measures.Select(m =>
            {
                var ratios = row.Ratios.GetValueOrDefault(m.Key, []);
                var range = ratios.Length > 1 ? $" {ratios.Min():0%}–{ratios.Max():0%}" : "";
                return $"{BenchTarget.Format(row.Median.GetValueOrDefault(m.Key, double.NaN))} ({row.MedianRatio.GetValueOrDefault(m.Key, double.NaN):0%}{range})";
            });
            md.AppendLine(CultureInfo.InvariantCulture, $"| {row.Name} | {string.Join(" | ", cells)} |");
        }
        md.AppendLine();
        foreach (var c in charts.Where(c => c.File.StartsWith("dataplane-", StringComparison.Ordinal)))
            md.AppendLine(CultureInfo.InvariantCulture, $"![{c.Title}]({c.File})").AppendLine();
    }

    private static void Cni(StringBuilder md, JsonElement cni, List<ReportChart> charts)
    {
        md.AppendLine("## Control plane (`bench cni`)").AppendLine();
        var targets = BenchTarget.Read(cni, "cni");
        md.AppendLine(CultureInfo.InvariantCulture, $"{targets.Count} target(s) measured, {targets.Count(t => t.Met)} met (listed above).").AppendLine();
        foreach (var c in charts.Where(c => c.File.StartsWith("cni-", StringComparison.Ordinal)))
            md.AppendLine(CultureInfo.InvariantCulture, $"![{c.Title}]({c.File})").AppendLine();
    }

    private static void Scale(StringBuilder md, JsonElement scale)
    {
        md.AppendLine("## Scale (`bench scale`)").AppendLine();
        foreach (var part in scale.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"### {part.Name}").AppendLine().AppendLine("| | |").AppendLine("|---|---:|");
            foreach (var p in part.Value.EnumerateObject().Where(p => p.Value.ValueKind is JsonValueKind.Number or JsonValueKind.String or JsonValueKind.True or JsonValueKind.False))
                md.AppendLine(CultureInfo.InvariantCulture, $"| {p.Name} | {(p.Value.ValueKind == JsonValueKind.Number ? BenchTarget.Format(p.Value.GetDouble()) : p.Value.ToString())} |");
            md.AppendLine();
        }
    }
}
