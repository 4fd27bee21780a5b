using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab;
using Fathom.Lab.Control;
using Fathom.Lab.Cri;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl bench sticky</c> (issue 11 §3): how long a sticky pod takes to start through
/// containerd's CRI when its ENI moves with it. A lab of its own (2 × m5.xlarge, containerd in both
/// nodes, the given attach latency), its agents given <c>pools.sticky</c> for <c>db/web-*</c>; then,
/// side by side in one run: an ordinary underlay sandbox from the warm pool (the baseline),
/// <c>db/web-0</c> moved from node to node (cold: the wait for the release, the detach and the attach
/// included), and returned to the node that retained its ENI (no cloud call but the untag); and in
/// shared mode an ordinary shared sandbox (<c>s-warm</c>) against <c>db/web-1</c> moved from node to node
/// (<c>s-moved</c>: the wait for the release and the IP's AllowReassignment included). Every time runs
/// from RunPodSandbox to its answer (the pod networked); the IP is checked unchanged.
/// </summary>
internal sealed class BenchSticky(int moves, TimeSpan attachLatency, string prefix, string? jsonPath)
{
    private readonly LabLayout _layout = new(prefix);
    private readonly Dictionary<string, List<double>> _samples = new(StringComparer.Ordinal);

    private static readonly Option<int> Moves = NumberOptions.Integer("--moves", "Moves of web-0 between the nodes (and as many returns and baselines), 1..50.", 5);
    private static readonly Option<int> Latency = NumberOptions.Integer("--attach-latency-ms", "The lab's attach latency (EC2 attaches in seconds), 0..10000.", 500);
    private static readonly Option<string> Prefix = new("--lab-prefix") { Description = "The name prefix of the bench's own lab.", DefaultValueFactory = _ => "fsticky" };
    private static readonly Option<string> Json = new("--json") { Description = "Also write the samples and their summary to this JSON file.", HelpName = "FILE" };

    public static Command Create()
    {
        var command = new Command("sticky", "Time a sticky pod's start through containerd's CRI when its ENI (underlay) or IP (shared) moves to another node, against a warm-pool start.")
        {
            Moves, Latency, Prefix, Json,
        };
        command.SetAction(parse =>
        {
            if (!Environment.IsPrivilegedProcess)
                throw new InvalidOperationException("needs root: it brings up a lab of namespaces, agents and containerd (as root: fathomctl bench sticky)");
            var moves = parse.GetValue(Moves);
            var latency = parse.GetValue(Latency);
            if (moves is < 1 or > 50) throw new ArgumentException("--moves: 1..50");
            if (latency is < 0 or > 10000) throw new ArgumentException("--attach-latency-ms: 0..10000");
            return new BenchSticky(moves, TimeSpan.FromMilliseconds(latency), parse.GetValue(Prefix)!, parse.GetValue(Json)).RunAsync().GetAwaiter().GetResult();
        });
        return command;
    }

    public async Task<int> RunAsync()
    {
        if (LabStatus.Read(_layout).State != "down")
            throw new InvalidOperationException($"lab '{_layout.Prefix}' is up: bench sticky brings up a lab of its own (FATHOM_LAB_PREFIX={_layout.Prefix} fathomctl lab down, or --lab-prefix)");
        Console.WriteLine($"fathomctl bench sticky: 2 × m5.xlarge, containerd, attach latency {attachLatency.TotalMilliseconds:0} ms, {moves} moves, lab '{_layout.Prefix}'");
        try
        {
            Fathomctl("lab", "up", "--nodes", "2", "--instance-type", "m5.xlarge", "--runtime", "containerd",
                "--faults", $"attach-latency={attachLatency.TotalMilliseconds:0}ms");
            var state = LabCommands.RequireUp(_layout);
            foreach (var node in state.Nodes) RestartWithSticky(node.Name);
            await MeasureAsync(state).ConfigureAwait(false);
        }
        finally
        {
            Fathomctl("lab", "down");
        }
        Report();
        return 0;
    }

    private async Task MeasureAsync(LabState state)
    {
        var nodes = state.Nodes.Select(n => n.Name).ToArray();
        var cri = nodes.ToDictionary(n => n, n => new CriClient(LabContainerd.Socket(_layout, n), TimeSpan.FromSeconds(90)));
        var parents = state.Nodes.ToDictionary(n => n.Name, n => LabContainerd.For(_layout, n).CgroupParent);
        CriPodSpec Pod(string ns, string name, string node) => new(ns, name, Guid.NewGuid().ToString(), parents[node], "underlay");
        CriPodSpec Shared(string ns, string name, string node) => new(ns, name, Guid.NewGuid().ToString(), parents[node], "shared");
        try
        {
            var (web, ip) = await TimedAsync("first", cri[nodes[0]], Pod("db", "web-0", nodes[0])).ConfigureAwait(false);
            var (web1, ip1) = await TimedAsync("s-first", cri[nodes[0]], Shared("db", "web-1", nodes[0])).ConfigureAwait(false);
            var at = 0;
            var at1 = 0;
            for (var i = 0; i < moves; i++)
            {
                // Baseline: an ordinary underlay pod from node1's warm pool.
                var (baseline, _) = await TimedAsync("warm", cri[nodes[0]], Pod("bench", $"base-{i}", nodes[0])).ConfigureAwait(false);
                await RemoveAsync(cri[nodes[0]], baseline).ConfigureAwait(false);

                // Returned: removed and started again on the node that retains its ENI.
                await RemoveAsync(cri[nodes[at]], web).ConfigureAwait(false);
                WaitRetained(nodes[at], Path.Combine("sticky", "db_web-0.json"));
                (web, var again) = await TimedAsync("returned", cri[nodes[at]], Pod("db", "web-0", nodes[at])).ConfigureAwait(false);
                Same(ip, again);

                // Moved: removed, started on the other node (the ENI detached and attached with it).
                await RemoveAsync(cri[nodes[at]], web).ConfigureAwait(false);
                WaitRetained(nodes[at], Path.Combine("sticky", "db_web-0.json"));
                at = 1 - at;
                (web, var moved) = await TimedAsync("moved", cri[nodes[at]], Pod("db", "web-0", nodes[at])).ConfigureAwait(false);
                Same(ip, moved);

                // Shared mode: an ordinary shared pod, and web-1's IP moved to the other node's ENI.
                var (sharedBaseline, _) = await TimedAsync("s-warm", cri[nodes[0]], Shared("bench", $"sbase-{i}", nodes[0])).ConfigureAwait(false);
                await RemoveAsync(cri[nodes[0]], sharedBaseline).ConfigureAwait(false);
                await RemoveAsync(cri[nodes[at1]], web1).ConfigureAwait(false);
                WaitRetained(nodes[at1], Path.Combine("sticky-ips", "db_web-1.json"));
                at1 = 1 - at1;
                (web1, var moved1) = await TimedAsync("s-moved", cri[nodes[at1]], Shared("db", "web-1", nodes[at1])).ConfigureAwait(false);
                Same(ip1, moved1);
            }
            await RemoveAsync(cri[nodes[at]], web).ConfigureAwait(false);
            await RemoveAsync(cri[nodes[at1]], web1).ConfigureAwait(false);
        }
        finally
        {
            foreach (var client in cri.Values) client.Dispose();
        }
    }

    private async Task<(string Id, string Ip)> TimedAsync(string what, CriClient cri, CriPodSpec pod)
    {
        var stopwatch = Stopwatch.StartNew();
        var id = await cri.RunPodSandboxAsync(pod).ConfigureAwait(false);
        var ms = stopwatch.Elapsed.TotalMilliseconds;
        if (!_samples.TryGetValue(what, out var list)) _samples[what] = list = [];
        list.Add(ms);
        var ip = (await cri.PodSandboxStatusAsync(id).ConfigureAwait(false)).Ip;
        Console.WriteLine($"  {what,-9} {pod.Namespace}/{pod.Name} {ip,-15} {ms,8:0.0} ms");
        return (id, ip);
    }

    private static async Task RemoveAsync(CriClient cri, string id)
    {
        await cri.StopPodSandboxAsync(id).ConfigureAwait(false);
        await cri.RemovePodSandboxAsync(id).ConfigureAwait(false);
    }

    private static void Same(string expected, string got)
    {
        if (got != expected) throw new InvalidOperationException($"web-0 came back with {got}, not its sticky IP {expected}");
    }

    // The old node's agent has seen the DEL done and tagged the ENI (the IP) released (its record says retained).
    private void WaitRetained(string node, string file)
    {
        var record = Path.Combine(_layout.AgentStateDirectory(node), file);
        var deadline = Stopwatch.StartNew();
        while (!(File.Exists(record) && File.ReadAllText(record).Contains("\"tagsInSync\": true", StringComparison.Ordinal)
                 && File.ReadAllText(record).Contains("\"phase\": \"retained\"", StringComparison.Ordinal)))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new InvalidOperationException($"{node}'s agent did not retain the sticky pod's ENI or IP within 30 s ({record})");
            Thread.Sleep(10);
        }
    }

    /// <summary>What an operator does to change an agent's config: edit it, restart the agent (the lab's supervisor starts it again).</summary>
    private void RestartWithSticky(string node)
    {
        var path = _layout.AgentConfigFile(node);
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["pools"]!["sticky"] = new JsonObject { ["namespaces"] = new JsonArray("db"), ["names"] = new JsonArray("web-*") };
        File.WriteAllText(path, config.ToJsonString());
        var old = LabStateStore.TryLoad(_layout)!.Agents.Single(a => a.Node == node).Pid;
        using (var agent = Process.GetProcessById(old)) agent.Kill(); // SIGKILL
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var now = LabStateStore.TryLoad(_layout)!.Agents.Single(a => a.Node == node).Pid;
            try
            {
                if (now != old && new AgentClient(_layout.AgentSocket(node), TimeSpan.FromSeconds(2)).Status() is not null) return;
            }
            catch (Exception e) when (e is IOException or AgentException or System.Net.Sockets.SocketException)
            {
            }
            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                throw new InvalidOperationException($"{node}'s agent did not come back with the sticky config within 30 s");
            Thread.Sleep(50);
        }
    }

    private void Report()
    {
        Console.WriteLine();
        Console.WriteLine($"  {"start",-9} {"n",3} {"median",9} {"p90",9} {"max",9}   (RunPodSandbox → answer, ms)");
        var summary = new JsonObject();
        foreach (var (what, list) in _samples)
        {
            var sorted = list.Order().ToList();
            double At(double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what,-9} {sorted.Count,3} {At(0.5),9:0.0} {At(0.9),9:0.0} {sorted[^1],9:0.0}"));
            summary[what] = new JsonObject
            {
                ["samples"] = new JsonArray([.. list.Select(v => (JsonNode)Math.Round(v, 1))]),
                ["medianMs"] = Math.Round(At(0.5), 1),
                ["p90Ms"] = Math.Round(At(0.9), 1),
            };
        }
        summary["attachLatencyMs"] = attachLatency.TotalMilliseconds;
        if (jsonPath is not null)
            File.WriteAllText(jsonPath, summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    private void Fathomctl(params string[] args) => FathomctlChild.Run(_layout.Prefix, args);
}
