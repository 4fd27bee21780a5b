using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Fathom.Lab;
using Fathom.Netlink;

namespace Fathom.Ctl.Tests.Commands;

/// <summary>
/// <c>bench cni</c> with its agent modes, run for real at a tiny profile, so the benchmark cannot
/// rot: it brings up its own lab, runs the plugin through the real agents, writes its JSON, and
/// takes the lab down. The figures themselves are the machine's; only their shape is checked.
/// </summary>
public sealed class BenchCniAgentModesTests
{
    /// <summary>FATHOM_TEST_LAB_PREFIX (or "ftlab") + "bench": the bench's own lab, never another test's.</summary>
    private static readonly string LabPrefix =
        (Environment.GetEnvironmentVariable("FATHOM_TEST_LAB_PREFIX") is { Length: > 0 } p ? p : "ftlab") + "bench";

    /// <summary>The published agent (<see cref="Repository.Agent"/>; the copy beside these tests cannot run the subnet modes).</summary>
    private static string? Agent => Repository.Agent;

    /// <summary>fathomctl.dll run by dotnet (as <see cref="CtlRun.Process"/>), with <see cref="Agent"/> as its FATHOM_AGENT.</summary>
    private static Shell.Result Bench(params string[] args) =>
        Agent is { } agent
            ? Shell.Run("env", ["FATHOM_AGENT=" + agent, CtlRun.Dotnet, Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), .. args])
            : CtlRun.Process(args);

    [Fact]
    public void TheAgentOptionsParse()
    {
        var parse = CtlRun.Parse("bench", "cni");
        Assert.Empty(parse.Errors);
        var options = BenchCniCommand.AgentOptions(parse)!;
        Assert.Equal([8, 32], options.Concurrency);
        Assert.Equal(new BenchCniAgentOptions(30, options.Concurrency, 2, 700, 500, BenchCniCommand.DefaultLabPrefix, 5), options);
        Assert.Null(BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--no-agent-modes")));
        parse = CtlRun.Parse("bench", "cni", "--agent-cycles", "3", "--concurrency", "4,1,2", "--rounds", "1", "--allocations", "20",
            "--attach-latency", "100", "--lab-prefix", "x1", "--churn-seconds", "0", "--json", "out.json");
        Assert.Empty(parse.Errors);
        options = BenchCniCommand.AgentOptions(parse)!;
        Assert.Equal([1, 2, 4], options.Concurrency);
        Assert.Equal(new BenchCniAgentOptions(3, options.Concurrency, 1, 20, 100, "x1", 0), options);
        Assert.Equal("out.json", parse.GetValue(BenchCniCommand.Json));
        Assert.Throws<UsageException>(() => BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--allocations", "736")));
        Assert.NotEmpty(CtlRun.Parse("bench", "cni", "--concurrency", "0").Errors);
        Assert.NotEmpty(CtlRun.Parse("bench", "cni", "--concurrency", "8,x").Errors);
        Assert.Throws<UsageException>(() => BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--churn-seconds", "-1")));
        Assert.True(BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--memory-only"))!.MemoryOnly);
        Assert.Throws<UsageException>(() => BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--memory-only", "--no-agent-modes")));
        Assert.Equal(Path.GetFullPath("steps.log"), BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--plugin-log", "steps.log"))!.PluginLog);
        Assert.Throws<UsageException>(() => BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--plugin-log", "x.log", "--no-agent-modes")));
        var nowhere = Assert.Throws<UsageException>(() => BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--plugin-log", "/nonexistent-fathom/x.log")));
        Assert.Contains("no folder /nonexistent-fathom", nowhere.Message);
    }

    [Fact]
    public void ThePluginLogsStepsAreSummedUpPerPathWithTheirMedians()
    {
        // Three underlay ADDs of one path (their devices differ), one that took a shorter path, one
        // as long as the first but with another step, a failed one (no steps that mean anything), and
        // a DEL: medians per path, the first invocation's names.
        static string Line(string mode, string command, double total, params (string Step, double Ms)[] steps) =>
            new JsonObject
            {
                ["command"] = command, ["mode"] = mode, ["durationMs"] = total, ["outcome"] = "ok",
                ["steps"] = new JsonArray([.. steps.Select(s => (JsonNode)new JsonObject { ["step"] = s.Step, ["ms"] = s.Ms })]),
            }.ToJsonString();
        string[] lines =
        [
            Line("underlay", "ADD", 20, ("read the environment and stdin", 0.1), ("move eth1 into the pod's netns as eth0 and set it up", 16)),
            "",
            Line("underlay", "ADD", 30, ("read the environment and stdin", 0.3), ("move eth2 into the pod's netns as eth0 and set it up", 20)),
            Line("underlay", "ADD", 40, ("read the environment and stdin", 0.2), ("move eth3 into the pod's netns as eth0 and set it up", 24)),
            Line("underlay", "ADD", 9, ("read the environment and stdin", 0.2)),
            Line("underlay", "ADD", 22, ("read the environment and stdin", 0.2), ("return eth4 to the node", 21)),
            """{"command":"ADD","mode":"underlay","durationMs":5,"outcome":"error","code":11,"msg":"no ENI","steps":[]}""",
            Line("underlay", "DEL", 3, ("release with fathom-agent", 1)),
        ];
        var paths = BenchCniSteps.Read(lines);
        Assert.Equal(4, paths.Count);
        var add = paths[0];
        Assert.Equal(["read the environment and stdin", "move eth1 into the pod's netns as eth0 and set it up"], add.Steps);
        Assert.Equal(3, add.Times.Count);
        Assert.Equal(20, BenchScratch.Percentile(add.Times.Select(t => t[1]).ToList(), 0.50));
        Assert.Equal(30, BenchScratch.Percentile(add.Totals, 0.50));
        Assert.Equal(("underlay", "ADD", 1), (paths[1].Mode, paths[1].Command, paths[1].Steps.Count));
        Assert.Equal(["read the environment and stdin", "return eth4 to the node"], paths[2].Steps);
        Assert.Equal(("underlay", "DEL"), (paths[3].Mode, paths[3].Command));
        Assert.Equal("move # into the pod's netns as # and set it up", BenchCniSteps.Shape("move eth1 into the pod's netns as eth0 and set it up"));
        Assert.Equal("add # to # (index #)", BenchCniSteps.Shape("add 10.0.1.5/32 to fthv1a2b3c (index 42)"));
    }

    /// <summary>
    /// --memory-only (≈ 15 s): the two memory targets and nothing else, each with a value, the
    /// RssFile/RssAnon split beside VmRSS, no named-device or latency figure, and no lab left.
    /// </summary>
    [PrivilegedFact("ip", "/usr/lib/cni/host-device", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local")]
    public void MemoryOnlyMeasuresOnlyTheAgentsMemory()
    {
        Privileged.Require("ip", "/usr/lib/cni/host-device", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
        var plugin = Repository.Plugin;
        Assert.True(File.Exists(plugin), $"fathom plugin not found at {plugin}: run ./build.sh, or publish your own copy and set FATHOM_PLUGIN");
        var layout = new LabLayout(LabPrefix + "m");
        var json = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}benchmem-{Environment.ProcessId}.json");
        try
        {
            var result = Bench("bench", "cni", "--plugin", plugin, "--memory-only", "--concurrency", "2", "--allocations", "20",
                "--lab-prefix", layout.Prefix, "--json", json);
            Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}\n{result.Stdout}");
            Assert.DoesNotContain("named device", result.Stdout);

            var document = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
            var targets = document["targets"]!.AsArray().Select(t => t!.AsObject()).ToList();
            Assert.Equal(["agent VmRSS idle <= 40 MiB", "agent VmRSS holding 20 allocations <= 64 MiB"], targets.Select(t => t["name"]!.GetValue<string>()));
            Assert.All(targets, t => Assert.True(t["value"]!.GetValue<double>() > 0, $"{t["name"]}: no value"));
            var figures = document["figures"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()).ToList();
            foreach (var rss in new[] { "agent VmRSS, idle (warm pools full)", "agent VmRSS, allocations held" })
                foreach (var part in new[] { "", ": RssFile", ": RssAnon" })
                    Assert.Contains(rss + part, figures);
            Assert.DoesNotContain(figures, f => f.StartsWith("named device", StringComparison.Ordinal) || f.StartsWith("underlay ADD", StringComparison.Ordinal));
            // The warm agents' CPU from start to full pools, read from /proc/PID/stat: some ticks, never none.
            var cpu = document["figures"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "agent CPU, start until warm pools full")!;
            Assert.True(cpu["median"]!.GetValue<double>() > 0, cpu.ToJsonString());
        }
        finally
        {
            File.Delete(json);
            Assert.False(Directory.Exists(layout.StateDirectory), $"the bench left {layout.StateDirectory}");
            Assert.DoesNotContain(Netns.List(), layout.Owns);
        }
    }

    /// <summary>
    /// A tiny profile end to end (≈ 30–60 s on the loaded 2-core machine): exit 0, the table and
    /// every target printed, the JSON holding every target with a number, a limit and a verdict,
    /// every figure with samples, and nothing of the lab left behind.
    /// </summary>
    [PrivilegedFact("ip", "/usr/lib/cni/host-device", "/usr/lib/cni/static", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local")]
    public void ATinyProfileWritesEveryFigureAndTarget()
    {
        Privileged.Require("ip", "/usr/lib/cni/host-device", "/usr/lib/cni/static", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
        var plugin = Repository.Plugin;
        Assert.True(File.Exists(plugin), $"fathom plugin not found at {plugin}: run ./build.sh, or publish your own copy and set FATHOM_PLUGIN");
        var layout = new LabLayout(LabPrefix);
        var json = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}benchcni-{Environment.ProcessId}.json");
        var log = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}benchcni-{Environment.ProcessId}.log");
        try
        {
            var result = Bench("bench", "cni", "--plugin", plugin, "--cycles", "2", "--agent-cycles", "2", "--concurrency", "1,2,4",
                "--rounds", "1", "--churn-seconds", "2", "--allocations", "20", "--lab-prefix", LabPrefix, "--json", json, "--plugin-log", log);
            Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}\n{result.Stdout}");
            Assert.Contains("target underlay DEL median <= 5 ms", result.Stdout);
            // --plugin-log: the measured sequential cycles' steps, per mode and command, the move among the underlay ADD's.
            Assert.Contains($"plugin steps, from {log}", result.Stdout);
            foreach (var path in new[] { "underlay ADD (2 invocations)", "shared ADD (2 invocations)", "host-gw DEL (2 invocations)", "overlay ADD (2 invocations)" })
                Assert.Contains(path, result.Stdout);
            Assert.Matches(@"\d+\.\d{3}  move \S+ into the pod's netns as eth0 and set it up", result.Stdout);

            var document = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
            var targets = document["targets"]!.AsArray().Select(t => t!.AsObject()).ToList();
            var names = targets.Select(t => t["name"]!.GetValue<string>()).ToList();
            foreach (var expected in new[]
                     {
                         "underlay ADD median <= bare move median + 3 ms", "underlay DEL median <= 5 ms", "ENI warm again <= 1 s after DEL",
                         "shared ADD median <= 0.35 x bridge+host-local ADD", "shared ADD+DEL median <= 0.25 x bridge+host-local ADD+DEL",
                         "shared ADD p99, 4 concurrent <= 20 ms", "underlay pods/s >= 0.9 x bare moves/s, 4 concurrent",
                         "cold pool: first pod <= attach latency + 1 s", "churn: errors == 0", "agent VmRSS idle <= 40 MiB", "agent VmRSS holding 20 allocations <= 64 MiB",
                     })
                Assert.Contains(expected, names);
            Assert.True(targets.Single(t => t["name"]!.GetValue<string>() == "churn: errors == 0")["value"]!.GetValue<double>() == 0,
                $"errors in the churn: {result.Stdout}");
            foreach (var target in targets.Where(t => t["name"]!.GetValue<string>() != "churn: errors == 0"))
            {
                Assert.True(target["value"]!.GetValue<double>() > 0, $"{target["name"]}: no value");
                Assert.True(target["limit"]!.GetValue<double>() > 0, $"{target["name"]}: no limit");
                _ = target["met"]!.GetValue<bool>();
            }
            foreach (var figure in document["figures"]!.AsArray().Select(f => f!.AsObject()))
            {
                Assert.True(figure["count"]!.GetValue<int>() > 0, $"{figure["name"]}: no samples");
                Assert.True(figure["median"]!.GetValue<double>() > 0 && figure["p90"]!.GetValue<double>() >= figure["median"]!.GetValue<double>() &&
                            figure["p99"]!.GetValue<double>() >= figure["p90"]!.GetValue<double>(),
                    $"{figure["name"]}: median {figure["median"]}, p90 {figure["p90"]}, p99 {figure["p99"]}");
            }
            var figureNames = document["figures"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()).ToList();
            foreach (var expected in new[] { "host-gw ADD (warm)", "host-gw DEL", "overlay ADD", "overlay DEL", "pods/s sustained churn", "cold pool: first shared pod ADD", "cold pool: first host-gw pod ADD", "cold pool: first overlay pod ADD" })
                Assert.Contains(expected, figureNames);
            foreach (var level in new[] { 2, 4 })
                foreach (var expected in new[] { "bare moves/s", "underlay pods/s", "underlay ADD", "shared ADD", "host-gw ADD", "overlay ADD", "underlay DEL", "shared DEL", "host-gw DEL", "overlay DEL",
                             "bridge+host-local ADD", "floor: fathom VERSION", "floor: fathom VERSION then a veth" })
                    Assert.Contains($"{expected}, {level} concurrent", figureNames);
            foreach (var level in new[] { 2, 4 })
                Assert.Contains($"floor: a veth, {level} concurrent, no process", figureNames);
            foreach (var expected in new[] { "floor: fathom VERSION (process start)", "floor: agent round trip (CHECK, as pods come)",
                         "floor: veth with its peer in the pod netns", "floor: CPU of one shared ADD (plugin process)" })
                Assert.Contains(expected, figureNames);
            var floors = document["floors"]!.AsArray().Select(f => f!.AsObject()).ToList();
            foreach (var expected in new[] { "underlay ADD floor", "underlay ADD floor - bare move", "DEL floor", "shared ADD floor",
                         "shared ADD floor / bridge+host-local ADD", "shared ADD+DEL floor / bridge+host-local ADD+DEL", "shared ADD p99, 4 concurrent floor",
                         "plugin start p99, 4 concurrent", "veth p99, 4 concurrent, no process", "shared ADD p99, 4 concurrent, this plugin's CPU" })
                Assert.True(floors.SingleOrDefault(f => f["name"]!.GetValue<string>() == expected)?["value"]?.GetValue<double>() > 0, $"floor {expected}: no value");
            Assert.Contains("floor DEL floor:", result.Stdout);
            // A shared ADD's veth can be made during its round trip: the floor is the start and the longer of the two.
            double Median(string name) => document["figures"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == name)!["median"]!.GetValue<double>();
            var sharedFloor = floors.Single(f => f["name"]!.GetValue<string>() == "shared ADD floor")["value"]!.GetValue<double>();
            // The JSON rounds each figure to 3 decimals and the floor is computed before rounding:
            // three roundings of at most 0.0005 each (a run read 10.335 against 10.334).
            Assert.Equal(Median("floor: fathom VERSION (process start)")
                + Math.Max(Median("floor: agent round trip (CHECK, as pods come)"), Median("floor: veth with its peer in the pod netns")), sharedFloor, tolerance: 0.002);
            int Count(string name) => document["figures"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == name)!["count"]!.GetValue<int>();
            Assert.Equal(20, Count("agent Allocate round trip (no plugin)") + Count("agent Allocate round trip, 20 ms apart"));
            Assert.Equal(20, Count("agent Release round trip (no plugin)"));
        }
        finally
        {
            File.Delete(json);
            File.Delete(log);
            Assert.False(Directory.Exists(layout.StateDirectory), $"the bench left {layout.StateDirectory}");
            Assert.DoesNotContain(Netns.List(), layout.Owns);
        }
    }

    /// <summary>
    /// Ctrl-C (SIGINT to the whole process group, as a terminal sends it) in the agent modes: the
    /// table and targets of what was measured, exit 130, and the lab taken down all the same.
    /// </summary>
    [PrivilegedFact("ip", "kill", "setsid", "/usr/lib/cni/host-device", "/usr/lib/cni/static", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local")]
    public void AnInterruptInTheAgentModesTakesTheLabDown()
    {
        Privileged.Require("ip", "kill", "setsid", "/usr/lib/cni/host-device", "/usr/lib/cni/static", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local");
        var plugin = Repository.Plugin;
        Assert.True(File.Exists(plugin), $"fathom plugin not found at {plugin}: run ./build.sh, or publish your own copy and set FATHOM_PLUGIN");
        var layout = new LabLayout(LabPrefix + "i");
        var psi = new ProcessStartInfo("setsid")
        {
            ArgumentList =
            {
                CtlRun.Dotnet, Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "bench", "cni", "--plugin", plugin, "--cycles", "1",
                "--agent-cycles", "100000", "--concurrency", "4", "--allocations", "20", "--lab-prefix", layout.Prefix,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Agent is { } agent) psi.Environment["FATHOM_AGENT"] = agent;
        using var process = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var leftBehind = new List<string>();
        var measuring = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            if (e.Data.StartsWith("  warm pools full", StringComparison.Ordinal)) measuring.Set();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            Assert.True(measuring.Wait(TimeSpan.FromSeconds(90)), "the agent modes did not start measuring");
            Thread.Sleep(TimeSpan.FromSeconds(4)); // a few cycles in
            Shell.Run("kill", ["-INT", "--", "-" + process.Id.ToString(CultureInfo.InvariantCulture)]).EnsureSuccess("kill -INT");
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(60)), "bench cni did not stop on SIGINT");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            process.WaitForExit();
            // What the bench left is a failure below; it is taken down here all the same.
            if (Directory.Exists(layout.StateDirectory)) leftBehind.Add(layout.StateDirectory);
            leftBehind.AddRange(Netns.List().Where(layout.Owns));
            if (leftBehind.Count > 0) Fathom.Lab.Control.LabControl.Down(layout);
        }
        string output;
        lock (stdout) output = stdout.ToString();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {stderr.Result}\n{output}");
        Assert.Contains("interrupted in the agent modes; the lab is down", stderr.Result);
        Assert.Matches(@"\nunderlay ADD \(warm pool\) +\d+ ", output);
        Assert.Contains("target underlay DEL median <= 5 ms", output);
        Assert.Empty(leftBehind);
    }
}
