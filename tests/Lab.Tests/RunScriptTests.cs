namespace Fathom.Lab.Tests;

/// <summary>
/// The README's first command, run as a newcomer runs it (as root: <c>./run.sh</c>), here in its
/// quick mode, under a lab prefix of its own (ftrun) and without rebuilding (./test.sh built
/// everything, and a rebuild would overwrite this very test's assemblies). Alone in its
/// collection: it measures throughput, and other tests' load would only add noise.
/// </summary>
[Collection(nameof(RunScriptCollection))]
public sealed class RunScriptTests
{
    private const string Prefix = "ftrun";

    [PrivilegedFact("ip", "iperf3", "sockperf", "jq", "ping", "/usr/lib/cni/bridge", "iptables-save", "ip6tables-save", "nft")]
    public void Run_sh_brings_up_the_lab_moves_enis_into_pods_pings_measures_reports_and_leaves_nothing()
    {
        // The last three for the root-netns snapshot.
        Privileged.Require("ip", "iperf3", "sockperf", "jq", "ping", "/usr/lib/cni/bridge", "iptables-save", "ip6tables-save", "nft");
        var fathomctl = Path.Combine(Repository.Bin, "fathomctl");
        Assert.True(File.Exists(fathomctl), $"{fathomctl} is missing: ./build.sh publishes it before ./test.sh runs tests");
        var env = new Dictionary<string, string>
        {
            ["FATHOM_LAB_PREFIX"] = Prefix,
            ["FATHOM_RUN_QUICK"] = "1",
            ["FATHOM_SKIP_BUILD"] = "1",
        };
        // Issue 4 §1: the root namespace's interfaces, routes and firewall are never touched.
        var rootBefore = RootNamespaceSnapshot.Take();
        // Also looked at every few seconds while run.sh runs: a root-namespace route or link
        // that lives only while the lab is up would be gone again by the final snapshot.
        using var stopWatching = new CancellationTokenSource();
        var watcher = Task.Run(() => WatchRootNamespace(rootBefore, stopWatching.Token));
        try
        {
            var run = Shell.Run(Path.Combine(Repository.Root, "run.sh"), [], env: env, timeout: TimeSpan.FromMinutes(6));
            var output = run.Stdout + run.Stderr;
            Assert.True(run.ExitCode == 0, $"run.sh exited {run.ExitCode}:\n{output}");

            // What the README promises a newcomer sees.
            Assert.Contains($"lab '{Prefix}' is up", output);
            Assert.Matches(@"eni-[0-9a-f]{17} \S+ \S+ attached to node1 as eth1", output);
            Assert.Contains("\"name\":\"eth0\"", output);              // fathom's ADD result
            Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", output);
            // The node agents' part: a pod per mode on each node from the agents' pools, reached across nodes.
            Assert.Matches(@"""name"":""un1"",""node"":""node1"",""mode"":""underlay""", output);
            Assert.Matches(@"""name"":""sh2"",""node"":""node2"",""mode"":""shared""", output);
            Assert.Contains("modes with pods on both nodes: underlay shared host-gw overlay", output);
            Assert.Matches(@"sandbox demo/cri-web on node1 through containerd's CRI: id [0-9a-f]+, IP [0-9.]+ \(underlay, ENI eni-", output);
            Assert.Matches(@"underlay → underlay: 2 packets transmitted, 2 received, 0% packet loss", output);
            // Every mode's pod reaches every other mode's on the other node (docs/modes.md, "Across modes").
            Assert.Contains("underlay → shared ok host-gw ok overlay ok", output);
            Assert.Contains("host-gw → underlay ok shared ok overlay ok", output);
            Assert.Contains("overlay → underlay ok shared ok host-gw ok", output);
            // The benchmarks, the table and the report (issue 12 §5).
            Assert.Contains("fathomctl bench dataplane:", output);
            Assert.Matches(@"\noverlay \(bridge\) +\d", output);
            Assert.Contains("fathomctl bench cni:", output);
            Assert.Matches(@"dataplane target underlay throughput / node↔node \(TCP×1\) +\d", output);
            foreach (var file in new[] { "report.json", "report.md", "dataplane-tcp1.png", "dataplane-rttP50.png" })
                Assert.True(File.Exists(Path.Combine(Repository.Root, "artifacts", "report", file)), $"run.sh wrote no artifacts/report/{file}");
            Assert.Contains($"namespaces left with prefix {Prefix}-: 0", output);
            Assert.Contains("run.sh: done in", output);
        }
        finally
        {
            stopWatching.Cancel();
            Shell.Run(fathomctl, ["lab", "down"], env: new Dictionary<string, string> { ["FATHOM_LAB_PREFIX"] = Prefix });
        }
        var left = Shell.Run("ip", ["netns", "list"]).Stdout.Split('\n').Where(l => l.StartsWith(Prefix + "-", StringComparison.Ordinal));
        Assert.Empty(left);
        // After `lab down` too: a change that outlives the lab.
        var during = watcher.GetAwaiter().GetResult();
        Assert.True(during.Length == 0, $"the root namespace changed while run.sh ran (- before, + during):\n{during}");
        var diff = RootNamespaceSnapshot.Diff(rootBefore, RootNamespaceSnapshot.Take());
        Assert.True(diff.Length == 0, $"run.sh changed the root namespace (- before, + after):\n{diff}");
    }

    /// <summary>Snapshots every 5 s (a handful of ip/iptables/nft runs: light next to run.sh's
    /// benchmarks) until cancelled; the first difference from <paramref name="before"/>, or "".</summary>
    private static string WatchRootNamespace(IReadOnlyList<string> before, CancellationToken stop)
    {
        while (!stop.WaitHandle.WaitOne(TimeSpan.FromSeconds(5)))
        {
            var diff = RootNamespaceSnapshot.Diff(before, RootNamespaceSnapshot.Take());
            if (diff.Length > 0) return diff;
        }
        return "";
    }
}

[CollectionDefinition(nameof(RunScriptCollection), DisableParallelization = true)]
public sealed class RunScriptCollection;
