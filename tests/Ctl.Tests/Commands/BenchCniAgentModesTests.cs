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

    [Fact]
    public void TheAgentOptionsParse()
    {
        var parse = CtlRun.Parse("bench", "cni");
        Assert.Empty(parse.Errors);
        Assert.Equal(new BenchCniAgentOptions(30, 32, 2, 700, 500, BenchCniCommand.DefaultLabPrefix), BenchCniCommand.AgentOptions(parse));
        Assert.Null(BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--no-agent-modes")));
        parse = CtlRun.Parse("bench", "cni", "--agent-cycles", "3", "--concurrency", "4", "--rounds", "1", "--allocations", "20",
            "--attach-latency", "100", "--lab-prefix", "x1", "--json", "out.json");
        Assert.Empty(parse.Errors);
        Assert.Equal(new BenchCniAgentOptions(3, 4, 1, 20, 100, "x1"), BenchCniCommand.AgentOptions(parse));
        Assert.Equal("out.json", parse.GetValue(BenchCniCommand.Json));
        Assert.Throws<UsageException>(() => BenchCniCommand.AgentOptions(CtlRun.Parse("bench", "cni", "--allocations", "736")));
        Assert.NotEmpty(CtlRun.Parse("bench", "cni", "--concurrency", "0").Errors);
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
        try
        {
            var result = CtlRun.Process("bench", "cni", "--plugin", plugin, "--cycles", "2", "--agent-cycles", "2", "--concurrency", "4",
                "--rounds", "1", "--allocations", "20", "--lab-prefix", LabPrefix, "--json", json);
            Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}: {result.Stderr}\n{result.Stdout}");
            Assert.Contains("target underlay DEL median <= 5 ms", result.Stdout);

            var document = JsonNode.Parse(File.ReadAllText(json))!.AsObject();
            var targets = document["targets"]!.AsArray().Select(t => t!.AsObject()).ToList();
            var names = targets.Select(t => t["name"]!.GetValue<string>()).ToList();
            foreach (var expected in new[]
                     {
                         "underlay ADD median <= bare move median + 3 ms", "underlay DEL median <= 5 ms", "ENI warm again <= 1 s after DEL",
                         "shared ADD median <= 0.35 x bridge+host-local ADD", "shared ADD+DEL median <= 0.25 x bridge+host-local ADD+DEL",
                         "shared ADD p99, 4 concurrent <= 20 ms", "underlay pods/s >= 0.9 x bare moves/s, 4 concurrent",
                         "cold pool: first pod <= attach latency + 1 s", "agent VmRSS idle <= 40 MiB", "agent VmRSS holding 20 allocations <= 64 MiB",
                     })
                Assert.Contains(expected, names);
            foreach (var target in targets)
            {
                Assert.True(target["value"]!.GetValue<double>() > 0, $"{target["name"]}: no value");
                Assert.True(target["limit"]!.GetValue<double>() > 0, $"{target["name"]}: no limit");
                _ = target["met"]!.GetValue<bool>();
            }
            foreach (var figure in document["figures"]!.AsArray().Select(f => f!.AsObject()))
            {
                Assert.True(figure["count"]!.GetValue<int>() > 0, $"{figure["name"]}: no samples");
                Assert.True(figure["median"]!.GetValue<double>() > 0 && figure["p99"]!.GetValue<double>() >= figure["median"]!.GetValue<double>(),
                    $"{figure["name"]}: median {figure["median"]}, p99 {figure["p99"]}");
            }
            Assert.Equal(20, document["figures"]!.AsArray().Single(f => f!["name"]!.GetValue<string>() == "agent Allocate round trip (no plugin)")!["count"]!.GetValue<int>());
        }
        finally
        {
            File.Delete(json);
            Assert.False(Directory.Exists(layout.StateDirectory), $"the bench left {layout.StateDirectory}");
            Assert.DoesNotContain(Netns.List(), layout.Owns);
        }
    }
}
