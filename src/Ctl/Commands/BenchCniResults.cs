using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Ctl;

/// <summary>
/// What <c>bench cni</c>'s agent modes measured: named figures (raw samples, in one unit each) and
/// the targets of issue 9 §10 computed from them, printed as a table and written as JSON
/// (<c>--json FILE</c>). The JSON's shape is a contract (issue 12's report reads it):
/// <c>{"targets":[{"name","value","limit","met"}],"floors":[{"name","value","unit","how"}],"figures":[{"name","unit","count","median","p90","p99","min","max"}],
/// "context":{...}}</c>; a target that could not be measured has <c>value</c> null and <c>met</c> false.
/// </summary>
internal sealed class BenchCniResults
{
    private readonly List<(string Name, string Unit, List<double> Samples)> _figures = [];
    private readonly List<(string Name, double Value, string Comparison, double Limit, string Unit, string How)> _targets = [];
    private readonly List<(string Name, double Value, string Unit, string How)> _floors = [];

    // Readable as written (≤, +, ') rather than \u-escaped: people read this file too.
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly JsonObject _context = [];

    /// <summary>The samples of figure <paramref name="name"/> (created empty on first use).</summary>
    public List<double> Figure(string name, string unit = "ms")
    {
        foreach (var f in _figures)
            if (f.Name == name) return f.Samples;
        var samples = new List<double>();
        _figures.Add((name, unit, samples));
        return samples;
    }

    /// <summary>Median of a figure's samples; NaN when it has none.</summary>
    public double Median(string name) => BenchScratch.Percentile(Figure(name), 0.50);

    /// <summary>99th percentile of a figure's samples; NaN when it has none.</summary>
    public double P99(string name) => BenchScratch.Percentile(Figure(name), 0.99);

    /// <summary>Something about the run (machine, options) that the JSON carries beside the figures.</summary>
    public void Note(string key, JsonNode? value) => _context[key] = value;

    /// <summary>A target: met when <paramref name="value"/> is at most (or, for "≥", at least) <paramref name="limit"/>.</summary>
    public void AtMost(string name, double value, double limit, string unit, string how) =>
        _targets.Add((name, value, "<=", limit, unit, how));

    /// <inheritdoc cref="AtMost"/>
    public void AtLeast(string name, double value, double limit, string unit, string how) =>
        _targets.Add((name, value, ">=", limit, unit, how));

    /// <summary>A floor: the least the machine lets a figure be, computed from floor figures of the same run.</summary>
    public void Floor(string name, double value, string unit, string how) => _floors.Add((name, value, unit, how));

    private static bool Met(double value, string comparison, double limit) =>
        !double.IsNaN(value) && !double.IsNaN(limit) && (comparison == "<=" ? value <= limit : value >= limit);

    /// <summary>The figures' table, then one line per target.</summary>
    public void Print(TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"{"figure",-44}{"n",5}{"median",10}{"p90",10}{"p99",10}{"max",10}  unit");
        foreach (var (name, unit, samples) in _figures)
            output.WriteLine($"{name,-44}{samples.Count,5}{F(Pct(samples, 0.5)),10}{F(Pct(samples, 0.9)),10}{F(Pct(samples, 0.99)),10}{F(Pct(samples, 1)),10}  {unit}");
        output.WriteLine();
        foreach (var (name, value, comparison, limit, unit, how) in _targets)
        {
            var verdict = double.IsNaN(value) ? "not measured" : Met(value, comparison, limit) ? "met" : "NOT met";
            output.WriteLine($"target {name}: {F(value)} {unit} (limit {F(limit)}) → {verdict}  ({how})");
        }
        foreach (var (name, value, unit, how) in _floors)
            output.WriteLine($"floor {name}: {F(value)} {unit}  ({how})");
    }

    /// <summary>The JSON document (see the class's summary).</summary>
    public JsonObject ToJson()
    {
        var targets = new JsonArray();
        foreach (var (name, value, comparison, limit, unit, how) in _targets)
            targets.Add((JsonNode)new JsonObject
            {
                ["name"] = name,
                ["value"] = Number(value),
                ["limit"] = Number(limit),
                ["met"] = Met(value, comparison, limit),
                ["comparison"] = comparison,
                ["unit"] = unit,
                ["how"] = how,
            });
        var figures = new JsonArray();
        foreach (var (name, unit, samples) in _figures)
            figures.Add((JsonNode)new JsonObject
            {
                ["name"] = name,
                ["unit"] = unit,
                ["count"] = samples.Count,
                ["median"] = Number(Pct(samples, 0.50)),
                ["p90"] = Number(Pct(samples, 0.90)),
                ["p99"] = Number(Pct(samples, 0.99)),
                ["min"] = Number(Pct(samples, 0)),
                ["max"] = Number(Pct(samples, 1)),
            });
        var floors = new JsonArray();
        foreach (var (name, value, unit, how) in _floors)
            floors.Add((JsonNode)new JsonObject { ["name"] = name, ["value"] = Number(value), ["unit"] = unit, ["how"] = how });
        return new JsonObject { ["targets"] = targets, ["floors"] = floors, ["figures"] = figures, ["context"] = _context.DeepClone() };
    }

    /// <summary>Writes <see cref="ToJson"/> to <paramref name="path"/> (through a temporary file, so a reader never sees half of it).</summary>
    public void WriteJson(string path)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + ".tmp";
        File.WriteAllText(temporary, ToJson().ToJsonString(Indented) + "\n");
        File.Move(temporary, full, overwrite: true);
    }

    private static double Pct(List<double> samples, double p) => samples.Count == 0 ? double.NaN : p <= 0 ? samples.Min() : BenchScratch.Percentile(samples, p);

    // Rounded to the microsecond (or a thousandth of whatever the unit is): enough, and stable to read.
    private static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(Math.Round(value, 3)) : null;

    private static string F(double value) => double.IsNaN(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture);
}
