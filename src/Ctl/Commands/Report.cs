using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Fathom.Ctl;

/// <summary>What <c>bench report</c> reads: each bench's <c>--json</c>, any of them missing.</summary>
/// <param name="Dataplane"><c>bench dataplane --json</c>.</param>
/// <param name="Cni"><c>bench cni --json</c>.</param>
/// <param name="Scale"><c>bench scale --json</c>.</param>
internal sealed record ReportInputs(JsonElement? Dataplane, JsonElement? Cni, JsonElement? Scale)
{
    /// <summary>Every target of every input, marked with its source.</summary>
    public List<BenchTarget> Targets =>
    [
        .. Dataplane is { } d ? BenchTarget.Read(d, "dataplane") : [],
        .. Cni is { } c ? BenchTarget.Read(c, "cni") : [],
        .. Scale is { } s ? BenchTarget.Read(s, "scale") : [],
    ];
}

/// <summary>
/// <c>fathomctl bench report</c> (issue 12 §4): the benches' JSON files of one run made into
/// <c>report.json</c> (all of them, and every target with its source), <c>report.md</c> (the
/// tables, DESIGN.md §9's targets each with its measured value and met/not met, the charts) and
/// PNG charts beside them, and the targets on the terminal. Numbers are only ever copied from the
/// inputs: the report measures nothing itself.
/// </summary>
internal static class Report
{
    internal static readonly Option<FileInfo> Dataplane = new("--dataplane") { Description = "bench dataplane --json output.", HelpName = "FILE" };
    internal static readonly Option<FileInfo> Cni = new("--cni") { Description = "bench cni --json output.", HelpName = "FILE" };
    internal static readonly Option<FileInfo> Scale = new("--scale") { Description = "bench scale --json output.", HelpName = "FILE" };
    internal static readonly Option<DirectoryInfo> Out = new("--out")
    {
        Description = "Where report.json, report.md and the charts go.",
        DefaultValueFactory = _ => new DirectoryInfo(Path.Combine("artifacts", "report")),
        HelpName = "DIR",
    };

    public static Command Create()
    {
        var command = new Command("report", "Makes report.json, report.md and PNG charts from the benches' --json files, each DESIGN.md §9 target met or not.")
        {
            Dataplane, Cni, Scale, Out,
        };
        command.SetAction(parse =>
        {
            var inputs = new ReportInputs(Load(parse.GetValue(Dataplane)), Load(parse.GetValue(Cni)), Load(parse.GetValue(Scale)));
            if (inputs is { Dataplane: null, Cni: null, Scale: null })
                throw new ArgumentException("nothing to report: give at least one of --dataplane, --cni, --scale");
            var written = Write(inputs, parse.GetValue(Out)!.FullName);
            var output = parse.InvocationConfiguration.Output;
            foreach (var t in inputs.Targets) output.WriteLine($"{t.Source,-9} {t.Line}");
            output.WriteLine($"report: {string.Join(", ", written)}");
            return 0;
        });
        return command;
    }

    /// <summary>A bench's JSON, or null when no file was given; a missing or malformed file is an error naming it.</summary>
    internal static JsonElement? Load(FileInfo? file)
    {
        if (file is null) return null;
        if (!file.Exists) throw new FileNotFoundException($"{file.FullName}: no such file", file.FullName);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(file.FullName));
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{file.FullName} is not JSON: {e.Message}", e);
        }
    }

    /// <summary>Writes everything into <paramref name="dir"/>; the files written.</summary>
    public static List<string> Write(ReportInputs inputs, string dir)
    {
        Directory.CreateDirectory(dir);
        var charts = ReportSections.Charts(inputs, dir);
        var json = Path.Combine(dir, "report.json");
        WriteJson(json, inputs, charts);
        var md = Path.Combine(dir, "report.md");
        File.WriteAllText(md, ReportSections.Markdown(inputs, charts));
        return [json, md, .. charts.Select(c => Path.Combine(dir, c.File))];
    }

    private static void WriteJson(string path, ReportInputs inputs, List<ReportChart> charts)
    {
        using var file = File.Create(path);
        using var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("generated", DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture));
        json.WriteStartObject("machine");
        json.WriteNumber("cores", Environment.ProcessorCount);
        json.WriteString("kernel", Environment.OSVersion.Version.ToString());
        json.WriteEndObject();
        foreach (var (name, input) in new[] { ("dataplane", inputs.Dataplane), ("cni", inputs.Cni), ("scale", inputs.Scale) })
        {
            if (input is not { } element) continue;
            json.WritePropertyName(name);
            element.WriteTo(json);
        }
        BenchTarget.Write(json, inputs.Targets);
        json.WriteStartArray("charts");
        foreach (var c in charts)
        {
            json.WriteStartObject();
            json.WriteString("file", c.File);
            json.WriteString("title", c.Title);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }
}

/// <summary>A chart the report wrote: its file name (beside report.md) and title.</summary>
internal sealed record ReportChart(string File, string Title);
