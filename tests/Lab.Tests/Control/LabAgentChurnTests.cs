using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// Issue 9 §9, the lab's fault checks of the agent (DESIGN §9 "faults"): pods made and deleted by
/// a runtime (<see cref="LabRuntime"/>: the installed plugin run inside the node, DEL retried until
/// it succeeds) while the agent is SIGKILLed or the cloud throttles and fails; afterwards nothing
/// leaks in the cloud, the agents or the kernel (<see cref="LabAudit"/>), no IP is held twice, and
/// every pod that should live is reachable. Each test brings its own lab up (they kill processes).
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabAgentChurnTests(ITestOutputHelper output)
{
    private static readonly string[] Tools = ["ip", "dnsmasq", "dhclient", "ping"];

    /// <summary>FATHOM_LAB_SOAK=1: a 1000-pod churn (minutes) instead of issue 9 §9's 300 pods (about a minute here).</summary>
    private static bool Soak => Environment.GetEnvironmentVariable("FATHOM_LAB_SOAK") == "1";

    private static LabRuntime Runtime(LabLayout layout, LabState state)
    {
        Assert.True(File.Exists(Repository.Plugin), $"no plugin at {Repository.Plugin}: run ./build.sh or set FATHOM_PLUGIN");
        return new LabRuntime(layout, state, Repository.Plugin);
    }

    private static void PoolsFilled(LabLayout layout, LabState state)
    {
        foreach (var node in state.Nodes)
            Eventually.True(() => NodeAgentSupervisor.Answers(layout.AgentSocket(node.Name))
                                  && LabAudit.Status(layout, node.Name).Pools.All(p => p.Available > 0),
                $"{node.Name}'s pools to fill", TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(100));
    }

    /// <summary>
    /// Changes the node agents' config as an operator does — edit the file, restart the agent
    /// (SIGTERM; the lab's supervisor starts it again) — and waits for the new agents to answer.
    /// </summary>
    private static void Reconfigure(LabLayout layout, LabState state, Action<JsonObject> change)
    {
        foreach (var node in state.Nodes)
        {
            var path = layout.AgentConfigFile(node.Name);
            var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            change(config);
            File.WriteAllText(path + ".new", config.ToJsonString());
            File.SetUnixFileMode(path + ".new", UnixFileMode.UserRead | UnixFileMode.UserWrite);
            File.Move(path + ".new", path, overwrite: true);
            var old = AgentPid(layout, node.Name);
            Assert.True(Signal.Send(old, Signal.SIGTERM), $"SIGTERM to {node.Name}'s agent {old}");
            Eventually.True(() => AgentPid(layout, node.Name) is var pid && pid != old && Signal.IsAlive(pid)
                                  && NodeAgentSupervisor.Answers(layout.AgentSocket(node.Name)),
                $"{node.Name}'s agent to come back with the new config", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(50));
        }
    }

    private static int AgentPid(LabLayout layout, string node) =>
        LabStateStore.TryLoad(layout)?.Agents.FirstOrDefault(a => a.Node == node)?.Pid ?? 0;

    private static bool Pings(LabState state, LabRuntime.Pod pod) =>
        Enumerable.Range(0, 3).Any(_ => Shell.Exec(state.RequireNode(pod.Node).Netns, "ping", "-c1", "-W2", pod.Ip).ExitCode == 0);

    // For each pod, one pod of each mode on another node (the i-th pod takes the i-th of them, in turn):
    // the pairs where the ping did not get through.
    private static List<string> AcrossNodes(List<LabRuntime.Pod> pods)
    {
        var failed = new List<string>();
        for (var i = 0; i < pods.Count; i++)
        {
            var from = pods[i];
            foreach (var group in pods.Where(p => p.Node != from.Node).GroupBy(p => p.Mode))
            {
                var to = group.ElementAt(i % group.Count());
                if (!Enumerable.Range(0, 3).Any(_ => Shell.Exec(from.Netns, "ping", "-c1", "-W2", to.Ip).ExitCode == 0))
                    failed.Add($"{from.Name} ({from.Mode}, {from.Node}, {from.Ip}) → {to.Name} ({to.Mode}, {to.Node}, {to.Ip})");
            }
        }
        return failed;
    }

    /// <summary>The pool targets of a node's agent once nothing is in use: warm ENIs and free IPs at their targets, within the planner's hysteresis.</summary>
    private static List<string> NotShrunk(LabLayout layout, LabState state)
    {
        var problems = new List<string>();
        foreach (var node in state.Nodes)
        {
            var status = LabAudit.Status(layout, node.Name);
            var underlay = status.Pools.Single(p => p.Mode == AllocationMode.Underlay);
            var shared = status.Pools.Single(p => p.Mode == AllocationMode.Shared);
            var perEni = status.Enis.FirstOrDefault()?.IpsCapacity ?? 1;
            // PoolPlanner's hysteresis: one warm ENI and half an ENI's IPs beyond the target are kept.
            if (underlay.InUse != 0 || underlay.Available < underlay.WarmTarget || underlay.Available > underlay.WarmTarget + 1)
                problems.Add($"{node.Name}: {underlay.Available} warm ENIs ({underlay.InUse} in use), target {underlay.WarmTarget}");
            if (shared.InUse != 0 || shared.Cooling != 0 || shared.Available < shared.WarmTarget
                || shared.Available > shared.WarmTarget + Math.Max(1, perEni / 2))
                problems.Add($"{node.Name}: {shared.Available} free IPs ({shared.InUse} used, {shared.Cooling} cooling), target {shared.WarmTarget}");
        }
        return problems;
    }

    /// <summary>
    /// Issue 9 §9, "delete everything": a 2-node m5.large lab filled (node1: 2 underlay pods, its two
    /// ENIs; node2: 27 shared pods, every secondary IP), then every pod deleted. The pools shrink to
    /// their agents' targets, the cloud holds only the ENIs and IPs the pools account for (nothing
    /// detached, no IP beyond the pool), and no pod's veth or rule is left in the nodes.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void Deleting_everything_after_a_fill_shrinks_the_pools_and_leaks_nothing()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "m5.large" });
            // A short cooldown so the freed IPs can go back within the test (the lab's agents default to 30 s).
            Reconfigure(layout, state, config => config["ipCooldownSeconds"] = 2);
            PoolsFilled(layout, state);
            var runtime = Runtime(layout, state);
            var pods = new List<LabRuntime.Pod>();
            pods.AddRange(Enumerable.Range(1, 2).Select(i => runtime.Add($"u{i}", "node1", "underlay")));
            pods.AddRange(Enumerable.Range(1, 27).Select(i => runtime.Add($"s{i}", "node2", "shared")));
            LabAudit.Settles(() => LabAudit.Leaks(layout, state, pods), "the filled lab to agree with its pods", TimeSpan.FromSeconds(30));
            Assert.All(pods, pod => Assert.True(Pings(state, pod), $"{pod.Node} → its pod {pod.Name} ({pod.Ip})"));

            var clock = Stopwatch.StartNew();
            foreach (var pod in pods)
                runtime.Delete(pod, TimeSpan.FromSeconds(30));
            output.WriteLine($"29 DELs in {clock.ElapsedMilliseconds} ms");
            LabAudit.Settles(() => [.. LabAudit.Leaks(layout, state, []), .. LabAudit.KernelLeftovers(layout, state), .. NotShrunk(layout, state)],
                "the pools to shrink to their targets with nothing leaked", TimeSpan.FromSeconds(60));
            output.WriteLine($"settled {clock.ElapsedMilliseconds} ms after the first DEL");
        });
    }

    /// <summary>
    /// Issue 9 §9: the agent SIGKILLed at 20 random moments of a churn of pods (ADD and DEL mixed,
    /// 8 at once, on two c5.4xlarge nodes, in all four modes: issue 10 §2 wants the subnet modes'
    /// IPAM as durable as the agent's other allocations): every ADD is retried as a runtime
    /// retries a sandbox, every DEL until it succeeds; afterwards the cloud, the agents and the live
    /// pods agree (0 leaked ENIs, IPs or subnet addresses, 0 IPs held twice), every surviving pod answers its node
    /// and reaches the other node's survivors of every mode, and once they are deleted too no pod is left in the
    /// kernel. The churn is drawn from a seed
    /// (printed; FATHOM_CHURN_SEED replays one); 300 pods, or 1000 with FATHOM_LAB_SOAK=1.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void Agents_killed_during_a_churn_leak_nothing_and_give_no_ip_twice()
    {
        var seed = Environment.GetEnvironmentVariable("FATHOM_CHURN_SEED") is { Length: > 0 } given ? int.Parse(given) : Random.Shared.Next();
        output.WriteLine($"churn seed {seed} (FATHOM_CHURN_SEED={seed} replays it)");
        var podCount = Soak ? 1000 : 300;
        const int Kills = 20;
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "c5.4xlarge" });
            PoolsFilled(layout, state);
            var runtime = Runtime(layout, state);
            var churn = new Churn(layout, state, runtime, seed, podCount, Kills);
            var clock = Stopwatch.StartNew();
            churn.Run(workers: 8);
            output.WriteLine($"{podCount} pods, {churn.Survivors.Count} survive, {churn.Kills} agents SIGKILLed, in {clock.Elapsed.TotalSeconds:0.0} s; "
                + $"ADD failures by code: {churn.FailureCodes}; DEL retries: {runtime.DelRetries}");
            Assert.Equal(Kills, churn.Kills);
            // A runtime retries whatever fails, but only "try again later" is an answer the agent may give here:
            // anything else (100: an ENI handed out without its device) is a bug the churn found.
            Assert.True(churn.Unexpected.IsEmpty, "ADDs failed with other codes than 11:\n" + string.Join("\n", churn.Unexpected));

            var survivors = churn.Survivors.ToList();
            LabAudit.Settles(() => LabAudit.Leaks(layout, state, survivors), "the agents, the cloud and the live pods to agree", TimeSpan.FromSeconds(60));
            Assert.All(survivors, pod => Assert.True(Pings(state, pod), $"{pod.Node} → its pod {pod.Name} ({pod.Ip}, {pod.Mode})"));
            // And each survivor reaches the other node's survivors of every mode, in turn: the modes' wiring
            // after the kills, across nodes (docs/modes.md, "Across modes").
            var across = AcrossNodes(survivors);
            Assert.True(across.Count == 0, "survivors that do not reach the other node's:\n" + string.Join("\n", across));
            foreach (var pod in survivors)
                runtime.Delete(pod, TimeSpan.FromSeconds(60));
            LabAudit.Settles(() => [.. LabAudit.Leaks(layout, state, []), .. LabAudit.KernelLeftovers(layout, state)],
                "nothing left once every pod is deleted", TimeSpan.FromSeconds(60));
            output.WriteLine($"done in {clock.Elapsed.TotalSeconds:0.0} s");
        });
    }

    /// <summary>
    /// Issue 9 §9: the cloud throttles 20 % of the agents' requests, fails 5 % with 5xx and takes
    /// 500 ms per attach; from a cold start, pods that need every ENI of two m5.large nodes (node1: 2
    /// underlay and 4 shared, node2: 24 shared, 4 at once, ADD retried on code 11 as a runtime does)
    /// are all networked and reachable in the end, and deleting them leaks nothing.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void A_throttled_failing_slow_cloud_networks_every_pod_in_the_end_and_leaks_nothing()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "m5.large", Faults = "throttle=0.2,error=0.05,lost=0.1,attach-latency=500ms" });
            var runtime = Runtime(layout, state);
            (string Name, string Node, string Mode)[] wanted =
            [
                ("u1", "node1", "underlay"), ("u2", "node1", "underlay"),
                .. Enumerable.Range(1, 4).Select(i => ($"a{i}", "node1", "shared")),
                .. Enumerable.Range(1, 24).Select(i => ($"b{i}", "node2", "shared")),
            ];
            var codes = new ConcurrentDictionary<int, int>();
            var pods = new ConcurrentBag<LabRuntime.Pod>();
            var clock = Stopwatch.StartNew();
            Parallel.ForEach(wanted, new ParallelOptions { MaxDegreeOfParallelism = 4 }, want =>
            {
                var bound = Stopwatch.StartNew();
                while (true)
                {
                    try
                    {
                        pods.Add(runtime.Add(want.Name, want.Node, want.Mode));
                        return;
                    }
                    catch (CniPluginException e) when (e.Code == 11 && bound.Elapsed < TimeSpan.FromSeconds(90))
                    {
                        codes.AddOrUpdate(e.Code, 1, (_, n) => n + 1);
                        Thread.Sleep(200);
                    }
                }
            });
            output.WriteLine($"{pods.Count} pods networked in {clock.Elapsed.TotalSeconds:0.0} s; code-11 answers retried: {codes.GetValueOrDefault(11)}");
            var live = pods.ToList();
            LabAudit.Settles(() => LabAudit.Leaks(layout, state, live), "the agents, the cloud and the pods to agree", TimeSpan.FromSeconds(60));
            Assert.All(live, pod => Assert.True(Pings(state, pod), $"{pod.Node} → its pod {pod.Name} ({pod.Ip})"));
            foreach (var pod in live)
                runtime.Delete(pod, TimeSpan.FromSeconds(60));
            LabAudit.Settles(() => [.. LabAudit.Leaks(layout, state, []), .. LabAudit.KernelLeftovers(layout, state)],
                "nothing left once every pod is deleted", TimeSpan.FromSeconds(60));
        });
    }

    /// <summary>
    /// Issue 9 §4, "allocations whose container is gone": pods whose sandbox the runtime deleted
    /// without a DEL (a runtime crash, a node cleaned by hand) — an underlay pod, whose ENI dies with
    /// the netns and the lab plugs back into its node, and a shared one — are released by the
    /// agent's reconcile on its next start (here: after a SIGKILL): their ENI and IP go back to the
    /// pool, their rules and veths leave the node, nothing leaks.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void Pods_deleted_without_a_DEL_are_released_by_the_restarted_agents_reconcile()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "m5.large" });
            PoolsFilled(layout, state);
            var runtime = Runtime(layout, state);
            var pods = new List<LabRuntime.Pod> { runtime.Add("u1", "node1", "underlay"), runtime.Add("s1", "node1", "shared") };
            LabAudit.Settles(() => LabAudit.Leaks(layout, state, pods), "the agent to hold both pods", TimeSpan.FromSeconds(30));
            foreach (var pod in pods)
                Fathom.Netlink.Netns.Delete(pod.Netns);
            Assert.True(Signal.Send(AgentPid(layout, "node1"), Signal.SIGKILL));
            LabAudit.Settles(() => [.. LabAudit.Leaks(layout, state, []), .. LabAudit.KernelLeftovers(layout, state)],
                "the restarted agent to release the pods that are gone", TimeSpan.FromSeconds(45));
            // Released by reconcile, not by anything else: its log says so, once per pod.
            var released = File.ReadAllLines(layout.AgentLog("node1")).Where(l => l.Contains("\"reconcile.pod-gone\"", StringComparison.Ordinal)).ToList();
            output.WriteLine(string.Join("\n", released));
            Assert.Equal(2, released.Count);
        });
    }

    /// <summary>
    /// The churn of <see cref="Agents_killed_during_a_churn_leak_nothing_and_give_no_ip_twice"/>: a
    /// plan drawn from the seed (each pod's node, mode, whether it survives, how long it lives), run by
    /// worker threads, and a killer that SIGKILLs one node's agent each time the count of runtime
    /// operations reaches one of the drawn kill points.
    /// </summary>
    private sealed class Churn
    {
        // Each pod's mode, drawn from these ten: 30 % underlay (as before the subnet modes came), 30 % shared,
        // 20 % each host-gw and overlay.
        private static readonly string[] Modes = [.. Enumerable.Repeat("underlay", 3), .. Enumerable.Repeat("shared", 3),
            .. Enumerable.Repeat("host-gw", 2), .. Enumerable.Repeat("overlay", 2)];
        private readonly LabLayout _layout;
        private readonly LabState _state;
        private readonly LabRuntime _runtime;
        private readonly (int Node, string Mode, bool Survives, int HoldMs)[] _plan;
        private readonly int[] _killAt;
        private readonly int[] _killNode;
        private readonly ConcurrentDictionary<int, int> _codes = new();
        private readonly ConcurrentDictionary<string, int> _underlaySurvivors = new();
        private int _next;
        private int _ops;
        private volatile bool _done;

        public Churn(LabLayout layout, LabState state, LabRuntime runtime, int seed, int pods, int kills)
        {
            _layout = layout;
            _state = state;
            _runtime = runtime;
            var random = new Random(seed);
            _plan = [.. Enumerable.Range(0, pods).Select(_ => (random.Next(2), Modes[random.Next(Modes.Length)], random.NextDouble() < 0.1, random.Next(0, 150)))];
            // Kill points among the ~2 operations per pod (survivors make one), spread over the churn.
            _killAt = [.. Enumerable.Range(0, kills).Select(_ => random.Next(4, pods * 8 / 5)).Order()];
            _killNode = [.. Enumerable.Range(0, kills).Select(_ => random.Next(2))];
        }

        public ConcurrentBag<LabRuntime.Pod> Survivors { get; } = [];

        public int Kills { get; private set; }

        /// <summary>ADD failures other than code 11.</summary>
        public ConcurrentBag<string> Unexpected { get; } = [];

        public string FailureCodes => string.Join(", ", _codes.OrderBy(c => c.Key).Select(c => $"{c.Key}×{c.Value}"));

        public void Run(int workers)
        {
            var killer = new Thread(Kill) { IsBackground = true, Name = "churn-killer" };
            killer.Start();
            try
            {
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ => Work());
            }
            finally
            {
                _done = true;
                killer.Join();
            }
        }

        private void Work()
        {
            int i;
            while ((i = Interlocked.Increment(ref _next) - 1) < _plan.Length)
            {
                var (nodeIndex, mode, survives, hold) = _plan[i];
                var node = _state.Nodes[nodeIndex].Name;
                // A node keeps at most two underlay survivors, so the churn never waits on ENIs it cannot get back.
                if (survives && mode == "underlay" && _underlaySurvivors.AddOrUpdate(node, 1, (_, n) => n + 1) > 2)
                    survives = false;
                var pod = AddUntilNetworked($"c{i}", node, mode);
                if (survives)
                {
                    Survivors.Add(pod);
                    continue;
                }
                Thread.Sleep(hold);
                Interlocked.Increment(ref _ops);
                _runtime.Delete(pod, TimeSpan.FromSeconds(90));
            }
        }

        private LabRuntime.Pod AddUntilNetworked(string name, string node, string mode)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                Interlocked.Increment(ref _ops);
                try
                {
                    return _runtime.Add(name, node, mode);
                }
                catch (CniPluginException e) when (clock.Elapsed < TimeSpan.FromSeconds(90))
                {
                    _codes.AddOrUpdate(e.Code, 1, (_, n) => n + 1);
                    if (e.Code != 11)
                        Unexpected.Add($"ADD of {name} ({mode} on {node}): {e.Message}");
                    Thread.Sleep(100);
                }
            }
        }

        private static bool IsAgent(int pid, HashSet<int> killed) =>
            pid > 0 && !killed.Contains(pid) && Signal.IsAlive(pid) && Signal.CommandLine(pid).Any(a => a.Contains("fathom-agent", StringComparison.Ordinal));

        private void Kill()
        {
            var k = 0;
            var killed = new HashSet<int>();
            while (k < _killAt.Length && !_done)
            {
                if (Volatile.Read(ref _ops) < _killAt[k])
                {
                    Thread.Sleep(5);
                    continue;
                }
                var node = _state.Nodes[_killNode[k]].Name;
                // The agent of that node as it runs now (maybe one just restarted, still reconciling: a crash point too).
                var deadline = Stopwatch.StartNew();
                int pid;
                while (!IsAgent(pid = AgentPid(_layout, node), killed) && deadline.Elapsed < TimeSpan.FromSeconds(10))
                    Thread.Sleep(10);
                // Never pid 0 (kill(0) would signal this test's own process group), an old pid, or a stranger's.
                if (!IsAgent(pid, killed))
                    continue;
                killed.Add(pid);
                if (!Signal.Send(pid, Signal.SIGKILL))
                    continue; // it died meanwhile: this kill point takes the next agent
                Kills++;
                k++;
            }
        }
    }
}
