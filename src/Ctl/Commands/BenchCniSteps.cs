using System.Globalization;
using System.Text.Json;

namespace Fathom.Ctl;

/// <summary>
/// Where the plugin's time goes, from its own log (<c>--plugin-log</c>; the network config's
/// <c>logFile</c>, whose <c>"steps"</c> each invocation writes — docs/cni.md, "Log file"): for each
/// mode and command, the median of every step over the invocations that took the same path: the
/// same steps in the same order, read without their numbers (a step names its devices and
/// addresses: "move eth1 …" and "move eth2 …" are one step), so a pod that took another path is not
/// averaged into its neighbour's step. Names are the first invocation's.
/// </summary>
internal static partial class BenchCniSteps
{
    /// <summary>The invocations that took one path: its key (with its steps' <see cref="Shape"/>s), the step names of the first, every invocation's step times and in-process total.</summary>
    internal sealed record Sequence(string Mode, string Command, IReadOnlyList<string> Shapes, IReadOnlyList<string> Steps, List<double[]> Times, List<double> Totals);

    /// <summary>The successful invocations of <paramref name="lines"/> (the log's JSON lines), grouped by path, in order of first appearance.</summary>
    public static IReadOnlyList<Sequence> Read(IEnumerable<string> lines)
    {
        var paths = new List<Sequence>();
        foreach (var line in lines)
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.GetProperty("outcome").GetString() != "ok" || !root.TryGetProperty("steps", out var steps)) continue;
            var mode = root.GetProperty("mode").GetString() ?? "";
            var command = root.GetProperty("command").GetString() ?? "";
            var names = steps.EnumerateArray().Select(s => s.GetProperty("step").GetString() ?? "").ToList();
            var times = steps.EnumerateArray().Select(s => s.GetProperty("ms").GetDouble()).ToArray();
            var shapes = names.Select(Shape).ToList();
            var path = paths.Find(p => p.Mode == mode && p.Command == command && p.Shapes.SequenceEqual(shapes));
            if (path is null)
            {
                path = new Sequence(mode, command, shapes, names, [], []);
                paths.Add(path);
            }
            path.Times.Add(times);
            path.Totals.Add(root.GetProperty("durationMs").GetDouble());
        }
        return paths;
    }

    /// <summary>The table <c>bench cni --plugin-log</c> prints: per path, each step's median (ms), then the in-process total's.</summary>
    public static void Print(TextWriter output, string logFile)
    {
        var paths = Read(File.ReadLines(logFile));
        output.WriteLine();
        output.WriteLine($"plugin steps, from {logFile} (median ms of each step of the measured sequential cycles; a step's time runs from the end of the one before)");
        foreach (var path in paths)
        {
            output.WriteLine($"{path.Mode} {path.Command} ({path.Times.Count} invocations)");
            for (var i = 0; i < path.Steps.Count; i++)
                output.WriteLine($"  {Ms(BenchScratch.Percentile(path.Times.Select(t => t[i]).ToList(), 0.50))}  {path.Steps[i]}");
            output.WriteLine($"  {Ms(BenchScratch.Percentile(path.Totals, 0.50))}  in the process, in all (the log's durationMs; the bench's figure above adds the process's start and exit)");
        }
        if (paths.Count == 0) output.WriteLine("  (no successful invocation logged)");
    }

    /// <summary>A step's name with every word that holds a digit (a device, an address, a netns path, an index) as <c>#</c>.</summary>
    internal static string Shape(string step) => WordWithDigit().Replace(step, "#");

    [System.Text.RegularExpressions.GeneratedRegex(@"[^\s,;()]*\d[^\s,;()]*")]
    private static partial System.Text.RegularExpressions.Regex WordWithDigit();

    private static string Ms(double value) => value.ToString("0.000", CultureInfo.InvariantCulture).PadLeft(8);
}
