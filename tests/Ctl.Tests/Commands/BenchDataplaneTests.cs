using System.Text.Json;

namespace Fathom.Ctl.Tests.Commands;

/// <summary>
/// <c>bench dataplane</c>: its parsers on captured output, its options, and a tiny profile run for
/// real (every wiring, every measure, one round of one-second runs), its JSON fed to
/// <c>bench report</c> so neither can rot.
/// </summary>
public sealed class BenchDataplaneTests
{
    private const string SockperfSummary = """
        sockperf: ====> avg-latency=8.361 (std-dev=34.758)
        sockperf: ---> <MAX> observation = 2592.256
        sockperf: ---> percentile 99.999 = 2592.256
        sockperf: ---> percentile 99.000 =   14.296
        sockperf: ---> percentile 90.000 =    8.141
        sockperf: ---> percentile 50.000 =    7.506
        sockperf: ---> <MIN> observation =    6.825
        """;

    [Fact]
    public void SockperfSummaryGivesP50AndP99()
    {
        Assert.Equal((7.506, 14.296), BenchDataplaneProbes.ParseSockperf(SockperfSummary));
        Assert.Null(BenchDataplaneProbes.ParseSockperf("sockperf: ERROR: connect failed"));
    }

    [Fact]
    public void IperfReportGivesRateAndCpuPerGbit()
    {
        using var tcp = JsonDocument.Parse("""
            {"end":{"sum_received":{"seconds":1.0,"bytes":1250000000,"bits_per_second":10e9},
                    "cpu_utilization_percent":{"host_total":60.0,"remote_total":40.0}}}
            """);
        var r = BenchDataplaneProbes.ParseIperf(tcp.RootElement, udpPayload: null);
        Assert.Equal(10, r.Gbits, 6);
        Assert.Equal(0.1, r.CpuPerGbit, 6); // one core's worth of CPU for 10 Gbit/s
        Assert.True(double.IsNaN(r.Kpps));

        using var udp = JsonDocument.Parse("""{"end":{"sum_received":{"seconds":2.0,"bytes":12800000,"bits_per_second":51.2e6}}}""");
        Assert.Equal(100, BenchDataplaneProbes.ParseIperf(udp.RootElement, udpPayload: 64).Kpps, 6); // 200 000 packets in 2 s
    }

    [Fact]
    public void ShortProfileByDefault()
    {
        var parse = CtlRun.Parse("bench", "dataplane");
        Assert.Empty(parse.Errors);
        Assert.Equal((1, 2, "/usr/lib/cni"), (parse.GetValue(BenchDataplane.Seconds), parse.GetValue(BenchDataplane.Rounds), parse.GetValue(BenchDataplane.CniPath)));
        Assert.NotEmpty(CtlRun.Parse("bench", "dataplane", "--rounds", "0").Errors);
        Assert.Equal(("cubic", "fathom-bench-", false, 1500),
            (parse.GetValue(BenchDataplane.Congestion), parse.GetValue(BenchDataplane.NetnsPrefix), parse.GetValue(BenchDataplane.Floor),
             parse.GetValue(BenchDataplane.FabricMtu)));
        Assert.Equal(9001, CtlRun.Parse("bench", "dataplane", "--fabric-mtu", "9001").GetValue(BenchDataplane.FabricMtu));
    }

    [Fact]
    public void FloorLinesSetFathomAgainstItsFloor()
    {
        BenchDataplane.Wiring W(string name, double gbits, double cpu)
        {
            var w = new BenchDataplane.Wiring(name, "m", "f", "c", "s", "10.0.0.1");
            w.Samples["tcp1"].Add(gbits);
            w.Samples["cpu"].Add(cpu);
            return w;
        }
        List<BenchDataplane.Wiring> wirings = [W("node↔node", 10, 0.03), W("host-gw (fathom)", 8, 0.04), W("overlay (fathom)", 6, 0.06)];
        Assert.Empty(BenchDataplane.FloorLines(wirings)); // no --floor, no lines
        wirings.Add(W("veth hop (floor)", 8, 0.04));
        Assert.Equal(["floor  veth hop (floor): TCP×1 0.80 of node↔node, CPU/Gbit 1.33×; host-gw (fathom): TCP×1 1.00 of the floor, CPU/Gbit 1.00× the floor's"],
            BenchDataplane.FloorLines(wirings));
        // The overlay's MTU floor is named by the run's MTU (--fabric-mtu 9001: 8951).
        wirings.Add(W("node MTU 8951 (floor)", 12, 0.03));
        Assert.Equal("floor  node MTU 8951 (floor): TCP×1 1.20 of node↔node, CPU/Gbit 1.00×; overlay (fathom): TCP×1 0.50 of the floor, CPU/Gbit 2.00× the floor's",
            BenchDataplane.FloorLines(wirings)[1]);
    }

    [Fact]
    public void FewerLoadsMeasureLessAndLeaveOutTheTargetsOfTheRest()
    {
        var parse = CtlRun.Parse("bench", "dataplane", "--loads", "tcp1, rtt");
        Assert.Empty(parse.Errors);
        var loads = BenchDataplane.ParseLoads(parse.GetValue(BenchDataplane.LoadsOption)!);
        Assert.Equal(["tcp1", "rttP50", "rttP99", "cpu"], new BenchDataplaneOptions(Loads: loads).Measures.Select(m => m.Key));
        Assert.Equal(DataplaneMeasure.All, new BenchDataplaneOptions().Measures);

        // Only TCP×1 ran: the RTT target is left out, not "NOT met" for want of a figure.
        var wirings = new[] { "node↔node", "underlay (fathom)", "shared (fathom)", "host-gw (fathom)", "host-gw (bridge)", "overlay (fathom)", "overlay (bridge)" }
            .Select(name =>
            {
                var w = new BenchDataplane.Wiring(name, "m", "f", "c", "s", "10.0.0.1");
                w.Samples["tcp1"].Add(10);
                w.Ratios["tcp1"].Add(1);
                return w;
            }).ToList();
        var targets = BenchDataplane.Targets(wirings);
        Assert.Equal(7 - 1, targets.Count);
        Assert.DoesNotContain(targets, t => t.Name.Contains("RTT", StringComparison.Ordinal));

        // The report reads which measures a file holds; an older file without the list holds them all.
        using var some = JsonDocument.Parse("""{"measures":[{"key":"tcp1"},{"key":"cpu"}]}""");
        Assert.Equal(["tcp1", "cpu"], DataplaneMeasure.In(some.RootElement).Select(m => m.Key));
        using var older = JsonDocument.Parse("{}");
        Assert.Equal(DataplaneMeasure.All, DataplaneMeasure.In(older.RootElement));
    }

    [Theory]
    [InlineData("--netns-prefix", "a/b")]
    [InlineData("--netns-prefix", "")]
    [InlineData("--congestion", "cubic;reboot")]
    [InlineData("--loads", "tcp1,tcp2")]
    [InlineData("--loads", ",")]
    [InlineData("--fabric-mtu", "1499.5")]
    [InlineData("--fabric-mtu", "100")]
    [InlineData("--fabric-mtu", "65536")]
    public void BadNamesAreParseErrors(string option, string value) =>
        Assert.Contains(CtlRun.Parse("bench", "dataplane", option, value).Errors, e => e.Message.Contains(option, StringComparison.Ordinal));

    /// <summary>
    /// The tiny profile: every wiring is built (Fathom's from the datapath projects, the classic
    /// ones by the reference bridge + host-local plugins), every measure of the loads run gives a
    /// number, the targets of those loads are written, the namespaces are gone afterwards; then the
    /// report and its charts. The rtt load is left to ./run.sh's test (RunScriptTests: tcp1 and rtt
    /// on every wiring, and the RTT chart): here it would add ≈ 15 s to what CI already ran.
    /// </summary>
    [PrivilegedFact("ip", "iperf3", "sockperf", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local")]
    public void TinyProfileMeasuresEveryWiringAndFeedsTheReport()
    {
        Privileged.Require("ip", "iperf3", "sockperf", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
        var dir = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}dp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var json = Path.Combine(dir, "dataplane.json");
            var run = Shell.Run(CtlRun.Dotnet, [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "bench", "dataplane",
                "--seconds", "1", "--rounds", "1", "--loads", "tcp1,tcp8,udp", "--json", json, "--netns-prefix", $"{TestNetns.Prefix}dp-", "--floor"], timeout: TimeSpan.FromMinutes(4));
            Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Stderr}\n{run.Stdout}");
            Assert.Contains("round 1/1  TCP×1", run.Stdout);
            Assert.Contains("TCP congestion control cubic", run.Stdout);
            var prefix = System.Text.RegularExpressions.Regex.Match(run.Stdout,
                $@"in namespaces ({System.Text.RegularExpressions.Regex.Escape(TestNetns.Prefix)}dp-[0-9a-f]+)-\*").Groups[1].Value;
            Assert.NotEqual("", prefix);
            Assert.DoesNotContain(Shell.Run("ip", ["netns", "list"]).Stdout.Split('\n'), l => l.StartsWith(prefix, StringComparison.Ordinal));
            Assert.Matches(@"\ntarget underlay throughput / node↔node \(TCP×1\) +\d", run.Stdout);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var wirings = doc.RootElement.GetProperty("wirings").EnumerateArray().ToList();
            Assert.Equal(["node↔node", "underlay (fathom)", "shared (fathom)", "host-gw (fathom)", "host-gw (bridge)", "overlay (fathom)", "overlay (bridge)",
                "host-gw (bpf)", "overlay (bpf)", "veth hop (floor)", "vxlan (floor)", "node MTU 1450 (floor)"], wirings.Select(w => w.GetProperty("name").GetString()));
            Assert.Matches(@"\nfloor  veth hop \(floor\): TCP×1 \d", run.Stdout);
            Assert.Matches(@"\nfloor  vxlan \(floor\): TCP×1 \d", run.Stdout);
            Assert.Matches(@"\nfloor  node MTU 1450 \(floor\): TCP×1 \d[^\n]*; overlay \(fathom\)", run.Stdout);
            Assert.Matches(@"\nfloor  node MTU 1450 \(floor\): TCP×1 \d[^\n]*; overlay \(bpf\)", run.Stdout);
            foreach (var w in wirings)
                foreach (var key in new[] { "tcp1", "tcp8", "udp", "cpu" })
                    Assert.True(w.GetProperty("median").GetProperty(key).GetDouble() > 0, $"{w.GetProperty("name")} {key}");
            // The measures of the loads run, not the RTTs (what the report reads to draw its charts).
            Assert.Equal(["cpu", "tcp1", "tcp8", "udp"], doc.RootElement.GetProperty("measures").EnumerateArray().Select(m => m.GetProperty("key").GetString()).Order());
            // Every target but the one the rtt load feeds (underlay RTT p50 / node↔node).
            Assert.Equal(10, doc.RootElement.GetProperty("targets").GetArrayLength());
            Assert.DoesNotContain("target underlay RTT", run.Stdout);
            Assert.Matches(@"\ntarget host-gw \(bpf\) throughput / node↔node \(TCP×1\) +\d", run.Stdout);

            var report = CtlRun.Process("bench", "report", "--dataplane", json, "--out", Path.Combine(dir, "report"));
            Assert.True(report.ExitCode == 0, $"exit {report.ExitCode}: {report.Stderr}");
            foreach (var file in new[] { "report.json", "report.md", "dataplane-tcp1.png", "dataplane-udp.png" })
                Assert.True(File.Exists(Path.Combine(dir, "report", file)), file);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
