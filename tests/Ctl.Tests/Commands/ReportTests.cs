using System.Text.Json;

namespace Fathom.Ctl.Tests.Commands;

/// <summary><c>bench report</c> on benches' JSON as they write it: the files, the targets with their sources, the errors.</summary>
public sealed class ReportTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}report-{Guid.NewGuid():N}");

    public ReportTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Dataplane = """
        {"bench":"dataplane","seconds":1,"rounds":2,
         "wirings":[
          {"name":"node↔node","mode":"node","family":"baseline","median":{"tcp1":20,"rttP50":17},"medianRatio":{"tcp1":1,"rttP50":1},
           "samples":{"tcp1":[19,21],"rttP50":[16,18]},"ratios":{"tcp1":[1,1],"rttP50":[1,1]}},
          {"name":"host-gw (fathom)","mode":"host-gw","family":"fathom","median":{"tcp1":19,"rttP50":20},"medianRatio":{"tcp1":0.95,"rttP50":1.18},
           "samples":{"tcp1":[18,20],"rttP50":[19,21]},"ratios":{"tcp1":[0.94,0.96],"rttP50":[1.1,1.2]}},
          {"name":"host-gw (bridge)","mode":"host-gw","family":"classic","median":{"tcp1":17,"rttP50":24},"medianRatio":{"tcp1":0.85,"rttP50":1.4},
           "samples":{"tcp1":[17,17],"rttP50":[24,24]},"ratios":{"tcp1":[0.85,0.85],"rttP50":[1.4,1.4]}}],
         "targets":[{"name":"host-gw throughput / node↔node (TCP×1)","value":0.95,"limit":0.95,"op":"≥","met":true}]}
        """;

    // As bench cni writes it: no "op"; "met" says which side of the limit counts.
    private const string Cni = """
        {"targets":[{"name":"DEL median, shared (ms)","value":3.1,"limit":5,"met":true},
                    {"name":"shared ADD p99, 32 concurrent (ms)","value":25,"limit":20,"met":false}],
         "runs":[{"mode":"shared","pool":"warm","concurrency":1,"addP50Ms":4.0,"delP50Ms":2.0},
                 {"mode":"shared","pool":"warm","concurrency":8,"addP50Ms":9.0}]}
        """;

    private string File(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void WritesJsonMarkdownAndChartsWithEveryTarget()
    {
        var result = CtlRun.InProcess("bench", "report", "--dataplane", File("dp.json", Dataplane), "--cni", File("cni.json", Cni), "--out", Path.Combine(_dir, "out"));
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Matches(@"dataplane +target host-gw throughput / node↔node \(TCP×1\) +0\.95 ≥ 0\.95 +met", result.Stdout);
        Assert.Matches(@"cni +target DEL median, shared \(ms\) +3\.1 ≤ 5 +met", result.Stdout);
        Assert.Matches(@"cni +target shared ADD p99, 32 concurrent \(ms\) +25 ≤ 20 +NOT met", result.Stdout);

        var md = System.IO.File.ReadAllText(Path.Combine(_dir, "out", "report.md"));
        Assert.Contains("| dataplane | host-gw throughput / node↔node (TCP×1) | 0.95 | ≥ 0.95 | met |", md);
        Assert.Contains("| cni | shared ADD p99, 32 concurrent (ms) | 25 | ≤ 20 | **not met** |", md);
        Assert.Contains("| host-gw (bridge) | 17 (85% 85%–85%) |", md);
        Assert.Contains("- lab scale:", md); // a §9 row no input measured is named, not dropped
        Assert.Contains("![TCP×1 per mode", md);

        using var json = JsonDocument.Parse(System.IO.File.ReadAllText(Path.Combine(_dir, "out", "report.json")));
        Assert.Equal(3, json.RootElement.GetProperty("targets").GetArrayLength());
        Assert.Equal("dataplane", json.RootElement.GetProperty("dataplane").GetProperty("bench").GetString());
        var charts = json.RootElement.GetProperty("charts").EnumerateArray().Select(c => c.GetProperty("file").GetString()).ToList();
        Assert.Contains("dataplane-tcp1.png", charts);
        Assert.Contains("cni-add.png", charts);
        foreach (var chart in charts)
        {
            var png = System.IO.File.ReadAllBytes(Path.Combine(_dir, "out", chart!));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        }
    }

    [Fact]
    public void AddLatencySeriesAreReadFromTheCniJson()
    {
        using var doc = JsonDocument.Parse(Cni);
        var series = ReportSections.AddLatencySeries(doc.RootElement);
        Assert.Equal([(1.0, 4.0), (8.0, 9.0)], series["shared (warm pool)"]);
    }

    [Fact]
    public void AddLatencySeriesAreReadFromBenchCnisNamedFigures()
    {
        using var doc = JsonDocument.Parse("""
            {"targets":[],"context":{"options":{"concurrency":16}},"figures":[
              {"name":"shared ADD (warm pool)","unit":"ms","count":30,"median":8.5,"p99":20},
              {"name":"shared ADD, concurrent","unit":"ms","count":32,"median":90,"p99":140},
              {"name":"bridge+host-local ADD","unit":"ms","count":30,"median":9.3,"p99":18},
              {"name":"shared DEL","unit":"ms","count":30,"median":6,"p99":18}]}
            """);
        var series = ReportSections.AddLatencySeries(doc.RootElement);
        Assert.Equal([(1.0, 8.5), (16.0, 90.0)], series["shared (agent)"]);
        Assert.Equal([(1.0, 9.3)], series["bridge+host-local"]);
        Assert.Equal(2, series.Count); // a DEL is no ADD
    }

    [Fact]
    public void BadInputIsACleanError()
    {
        var none = CtlRun.InProcess("bench", "report", "--out", _dir);
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("nothing to report", none.Stderr);

        var missing = CtlRun.InProcess("bench", "report", "--cni", Path.Combine(_dir, "nope.json"), "--out", _dir);
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("nope.json: no such file", missing.Stderr);

        var garbage = CtlRun.InProcess("bench", "report", "--cni", File("bad.json", "{not json"), "--out", _dir);
        Assert.Equal(1, garbage.ExitCode);
        Assert.Contains("bad.json is not JSON", garbage.Stderr);
    }
}
