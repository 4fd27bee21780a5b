using ScottPlot;

namespace Fathom.Ctl;

/// <summary>
/// The report's PNG charts (ScottPlot, fathomctl only — never in the AOT plugin): the seed
/// article's comparison — throughput and latency per mode, the classic wiring beside Fathom's —
/// and ADD latency per mode and concurrency.
/// </summary>
internal static class ReportCharts
{
    private static readonly Color Baseline = Color.FromHex("#7f7f7f");
    private static readonly Color Fathom = Color.FromHex("#1f77b4");
    private static readonly Color Classic = Color.FromHex("#ff7f0e");

    /// <summary>One bar group: a mode, with Fathom's and (where there is one) the classic wiring's value and spread.</summary>
    internal sealed record ModeBars(string Mode, double Fathom, double FathomSpread, double Classic, double ClassicSpread, bool IsBaseline);

    /// <summary>Bars per mode, Fathom's beside the classic wiring's, a dashed line at node↔node; returns the file written.</summary>
    public static string Bars(string path, string title, string unit, IReadOnlyList<ModeBars> groups, double? baseline)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        for (var i = 0; i < groups.Count; i++)
        {
            var g = groups[i];
            if (g.IsBaseline)
            {
                bars.Add(Bar(i * 3 + 0.5, g.Fathom, g.FathomSpread, Baseline));
                continue;
            }
            if (double.IsFinite(g.Fathom)) bars.Add(Bar(i * 3, g.Fathom, g.FathomSpread, Fathom));
            if (double.IsFinite(g.Classic)) bars.Add(Bar(i * 3 + 1, g.Classic, g.ClassicSpread, Classic));
        }
        plot.Add.Bars(bars);
        if (baseline is double b && double.IsFinite(b))
        {
            var line = plot.Add.HorizontalLine(b);
            line.LinePattern = LinePattern.Dashed;
            line.Color = Baseline;
        }
        plot.Axes.Bottom.SetTicks(groups.Select((_, i) => i * 3 + 0.5).ToArray(), groups.Select(g => g.Mode).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.YLabel(unit);
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "node↔node", FillColor = Baseline });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "Fathom", FillColor = Fathom });
        plot.Legend.ManualItems.Add(new LegendItem { LabelText = "classic (bridge + flannel-style)", FillColor = Classic });
        plot.ShowLegend(Edge.Bottom);
        plot.SavePng(path, 900, 500);
        return path;
    }

    /// <summary>ADD latency (ms) against concurrency, one line per mode or plugin; returns the file written.</summary>
    public static string Lines(string path, string title, string xLabel, string yLabel, IReadOnlyDictionary<string, List<(double X, double Y)>> series)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        var i = 0;
        foreach (var (name, points) in series)
        {
            var ordered = points.OrderBy(p => p.X).ToArray();
            var scatter = plot.Add.Scatter(ordered.Select(p => p.X).ToArray(), ordered.Select(p => p.Y).ToArray());
            scatter.LegendText = name;
            scatter.Color = palette.GetColor(i++);
            scatter.MarkerSize = 7;
        }
        var xs = series.Values.SelectMany(p => p.Select(q => q.X)).Distinct().Order().ToArray();
        if (xs.Length > 0) plot.Axes.Bottom.SetTicks(xs, xs.Select(x => x.ToString("0", System.Globalization.CultureInfo.InvariantCulture)).ToArray());
        plot.Axes.Margins(bottom: 0);
        plot.Title(title);
        plot.XLabel(xLabel);
        plot.YLabel(yLabel);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 900, 500);
        return path;
    }

    private static Bar Bar(double position, double value, double spread, Color color) => new()
    {
        Position = position,
        Value = double.IsFinite(value) ? value : 0,
        Error = double.IsFinite(spread) ? spread : 0,
        FillColor = color,
        Size = 0.9,
    };
}
