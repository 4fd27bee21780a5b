using System.Text.Json;

namespace Fathom.Ctl.Tests.Commands;

/// <summary>
/// <c>bench scale</c>: its capacity arithmetic, its refusals, and a tiny profile for real (2 ×
/// t3.small filled through the plugin and the agents: 1 underlay + 6 shared pods each; 5
/// simulated agents × 6 pods against the account-limited EC2 API), its JSON
/// fed to <c>bench report</c>, so it cannot rot.
/// </summary>
public sealed class BenchScaleTests
{
    /// <summary>The lab's prefix for this test: FATHOM_TEST_LAB_PREFIX (else "ftlab") plus "s", so it never meets the lab tests' own.</summary>
    private static string LabPrefix =>
        (Environment.GetEnvironmentVariable("FATHOM_TEST_LAB_PREFIX") is { Length: > 0 } p ? p : "ftlab") + "s";

    [Theory]
    [InlineData("c5.4xlarge", 0, 232)] // 8 ENIs × 29 secondary IPs: 4 nodes hold DESIGN.md §9's 928 pods
    [InlineData("c5.4xlarge", 1, 204)] // one ENI whole to a pod, 7 × 29 shared
    [InlineData("t3.small", 1, 7)]
    public void CapacityIsUnderlayEnisPlusSecondaryIpsOfTheRest(string type, int underlay, int perNode)
    {
        var limits = Fathom.Lab.Ec2.InstanceTypeLimits.Known.Single(t => t.Name == type);
        Assert.Equal(perNode, new BenchScaleOptions(UnderlayPerNode: underlay).CapacityPerNode(limits));
    }

    [Fact]
    public void DefaultsAreTheDesignsFourC5_4xlarge()
    {
        var parse = CtlRun.Parse("bench", "scale");
        Assert.Empty(parse.Errors);
        Assert.Equal((4, "c5.4xlarge", 0, 50), (parse.GetValue(BenchScale.Nodes), parse.GetValue(BenchScale.InstanceType), parse.GetValue(BenchScale.Underlay), parse.GetValue(BenchScale.Pairs)));
        Assert.Equal((100, 60, false), (parse.GetValue(BenchScale.Agents), parse.GetValue(BenchScale.PodsPerAgent), parse.GetValue(BenchScale.NoLab)));
    }

    [PrivilegedFact("ip", "ping", "dnsmasq")]
    public void AnUnknownInstanceTypeIsRefusedBeforeAnythingIsMade()
    {
        Privileged.Require("ip", "ping", "dnsmasq");
        var run = CtlRun.Process("bench", "scale", "--instance-type", "x9.huge", "--lab-prefix", LabPrefix);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("--instance-type: unknown 'x9.huge' (known: t3.small", run.Stderr);
    }

    [PrivilegedFact("ip", "ping", "dnsmasq")]
    public void TinyProfileFillsTheLabReachesEveryPodAndLeavesNothing()
    {
        Privileged.Require("ip", "ping", "dnsmasq");
        var dir = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}scale-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            var json = Path.Combine(dir, "scale.json");
            var run = Shell.Run(CtlRun.Dotnet, [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "bench", "scale", "--nodes", "2",
                "--instance-type", "t3.small", "--underlay", "1", "--pairs", "5", "--lab-prefix", LabPrefix, "--agents", "5", "--pods-per-agent", "6", "--json", json],
                env: new Dictionary<string, string> { ["FATHOM_PLUGIN"] = Repository.Plugin }, timeout: TimeSpan.FromMinutes(2));
            Assert.True(run.ExitCode == 0, $"exit {run.ExitCode}: {run.Stderr}\n{run.Stdout}");
            Assert.Contains("14 pods networked in", run.Stdout);
            Assert.Contains("13 pods from node1-0, 5 sampled pairs, 0 unreachable", run.Stdout);
            Assert.Matches(@"target lab scale: leaks after deleting every pod +0 ≤ 0 +met", run.Stdout);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            Assert.Equal(14, doc.RootElement.GetProperty("lab").GetProperty("pods").GetInt32());
            // The simulation: 5 agents × 6 pods (t3.small: 2 ENIs beside the primary, 3 secondary IPs each) against the account-limited EC2 API.
            Assert.Equal(5, doc.RootElement.GetProperty("simulation").GetProperty("agentsDone").GetInt32());
            Assert.All(doc.RootElement.GetProperty("targets").EnumerateArray(), t => Assert.True(t.GetProperty("met").GetBoolean(), t.ToString()));

            var report = CtlRun.Process("bench", "report", "--scale", json, "--out", Path.Combine(dir, "report"));
            Assert.True(report.ExitCode == 0, report.Stderr);
            Assert.Contains("| pods | 14 |", File.ReadAllText(Path.Combine(dir, "report", "report.md")));
        }
        finally
        {
            Shell.Run(CtlRun.Dotnet, [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "lab", "down"],
                env: new Dictionary<string, string> { ["FATHOM_LAB_PREFIX"] = LabPrefix });
            Directory.Delete(dir, recursive: true);
        }
        Assert.DoesNotContain(Shell.Run("ip", ["netns", "list"]).Stdout.Split('\n'), l => l.StartsWith(LabPrefix + "-", StringComparison.Ordinal));
    }
}
