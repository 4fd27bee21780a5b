using System.Globalization;
using System.Text.Json;

namespace Fathom.Ctl;

/// <summary>
/// One target of DESIGN.md §9 with what a benchmark measured for it. Every bench writes its targets
/// the same way in its <c>--json</c> (<c>{"targets":[{"name","value","limit","met"}]}</c>, plus
/// <c>op</c>: <c>≥</c> or <c>≤</c>), so <c>bench report</c> lists them all alike.
/// </summary>
/// <param name="Name">What is compared, e.g. <c>underlay RTT p50 / node↔node</c>.</param>
/// <param name="Value">The measured value (NaN when the run measured nothing for it).</param>
/// <param name="Limit">The target.</param>
/// <param name="Op"><c>≥</c> (the value must reach the limit) or <c>≤</c> (must stay under it).</param>
internal sealed record BenchTarget(string Name, double Value, double Limit, string Op)
{
    /// <summary>Met when the value is on the right side of the limit; a value not measured is not met.</summary>
    public bool Met { get; init; } = Op == "≤" ? Value <= Limit : Value >= Limit;

    /// <summary>Where the target came from (dataplane, cni, scale); set by the report.</summary>
    public string Source { get; init; } = "";

    public static BenchTarget AtLeast(string name, double value, double limit) => new(name, value, limit, "≥");

    public static BenchTarget AtMost(string name, double value, double limit) => new(name, value, limit, "≤");

    /// <summary>The terminal's line for it.</summary>
    public string Line => $"target {Name,-48} {Format(Value),9} {Op} {Format(Limit),-7} {(Met ? "met" : "NOT met")}";

    public static string Format(double x) =>
        !double.IsFinite(x) ? "—" : Math.Abs(x) >= 100 ? x.ToString("0", CultureInfo.InvariantCulture) : x.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Writes <c>"targets": [...]</c> into the open object.</summary>
    public static void Write(Utf8JsonWriter json, IEnumerable<BenchTarget> targets)
    {
        json.WriteStartArray("targets");
        foreach (var t in targets)
        {
            json.WriteStartObject();
            json.WriteString("name", t.Name);
            WriteNumber(json, "value", t.Value);
            WriteNumber(json, "limit", t.Limit);
            json.WriteString("op", t.Op);
            json.WriteBoolean("met", t.Met);
            if (t.Source.Length > 0) json.WriteString("source", t.Source);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    /// <summary>A number, or null when it is not finite (JSON has no NaN).</summary>
    public static void WriteNumber(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }

    /// <summary>
    /// The <c>targets</c> of a bench's JSON. <c>met</c> is taken as written (the bench knows its
    /// comparison); without <c>op</c>, the comparison is the one <c>met</c> implies (else <c>≥</c>).
    /// </summary>
    public static List<BenchTarget> Read(JsonElement root, string source)
    {
        var list = new List<BenchTarget>();
        if (!root.TryGetProperty("targets", out var targets) || targets.ValueKind != JsonValueKind.Array) return list;
        foreach (var t in targets.EnumerateArray())
        {
            var name = t.TryGetProperty("name", out var n) ? n.GetString() ?? "?" : "?";
            var value = Number(t, "value");
            var limit = Number(t, "limit");
            bool? met = t.TryGetProperty("met", out var m) && m.ValueKind is JsonValueKind.True or JsonValueKind.False ? m.GetBoolean() : null;
            // Without "op", the side of the limit is the one "met" says the value is on.
            var op = t.TryGetProperty("op", out var o) && o.GetString() is string s ? s
                : met is bool b && b != (value >= limit) ? "≤" : "≥";
            var target = new BenchTarget(name, value, limit, op) { Source = source };
            list.Add(met is bool written ? target with { Met = written } : target);
        }
        return list;
    }

    private static double Number(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : double.NaN;
}
