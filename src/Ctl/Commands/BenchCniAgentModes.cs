using System.Diagnostics;
using System.Text;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>What the agent modes' part of <c>bench cni</c> runs: how many cycles, how wide, how many allocations.</summary>
/// <param name="Cycles">Sequential ADD+DEL cycles per contender (underlay, shared, bridge+host-local, bare move).</param>
/// <param name="Concurrency">The concurrency levels: concurrent ADDs (and moves) per round, one set of rounds per level above 1 (level 1 is the sequential loop).</param>
/// <param name="Rounds">Rounds of the concurrent measurements.</param>
/// <param name="Allocations">Allocations the memory node's agent holds when its VmRSS is read.</param>
/// <param name="AttachLatencyMs">The lab's AttachNetworkInterface latency (the cold pool's first pod waits for it).</param>
/// <param name="LabPrefix">The prefix of the bench's own lab.</param>
/// <param name="ChurnSeconds">Seconds of sustained churn (shared ADD+DEL cycles, 8 workers); 0 for none.</param>
/// <param name="MemoryOnly">Only the agents' resident memory: the warm nodes and the memory node, no latencies.</param>
/// <param name="PluginLog">The plugin's log (the network config's <c>logFile</c>) for the measured sequential ADDs and DELs, whose steps <see cref="BenchCniSteps"/> sums up; null for none.</param>
internal sealed record BenchCniAgentOptions(int Cycles, IReadOnlyList<int> Concurrency, int Rounds, int Allocations, int AttachLatencyMs, string LabPrefix,
    int ChurnSeconds, bool MemoryOnly = false, string? PluginLog = null);

/// <summary>
/// The agent modes of <c>bench cni</c> (issue 9 §10, DESIGN.md §9): the <c>fathom</c> plugin through
/// each node's <c>fathom-agent</c> in the bench's own lab, timed beside a bare netns move and the
/// reference bridge + host-local, cycle by cycle in one loop; then the concurrent rounds, the cold
/// pool's first pod, and the agents' resident memory. Figures and targets go to <see cref="BenchCniResults"/>.
/// </summary>
internal sealed partial class BenchCniAgentModes(BenchCniAgentOptions options, string plugin, string bridgePlugin, BenchScratch scratch, BenchCniResults results)
{
    // The plugin's attachment records of the agent modes: a scratch folder, removed afterwards.
    private readonly string _records = scratch.CreateDirectory("-agent-records");

    private const int WarmupCycles = 3;

    /// <summary>Workers of the sustained churn (issue 12 §2); the pod slots are at least this many.</summary>
    private const int ChurnWorkers = 8;

    /// <summary>
    /// Pod namespaces each churn worker cycles through: a shared DEL only releases and the agent
    /// removes the pod's eth0 in the background, so a namespace is reused only once its eth0 is gone.
    /// </summary>
    private const int ChurnSlotsPerWorker = 4;
    private static readonly TimeSpan PoolTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The highest concurrency level: the pools, the nodes and the targets are sized for it.</summary>
    private int Top => options.Concurrency.Max();

    /// <summary>The concurrent levels, lowest first (level 1 is the sequential loop's).</summary>
    private IEnumerable<int> ConcurrentLevels => options.Concurrency.Where(c => c > 1).Distinct().Order();

    /// <summary>Nodes whose warm ENIs serve the underlay pods (a node hands out 14 at most).</summary>
    private int UnderlayNodes => Math.Max(1, (Top + BenchCniLab.UnderlayEnisPerNode - 1) / BenchCniLab.UnderlayEnisPerNode);

    private int WarmEnisPerNode => Math.Min(BenchCniLab.UnderlayEnisPerNode, Math.Max(2, (Top + UnderlayNodes - 1) / UnderlayNodes));

    private int WarmIps => Top + 8;

    /// <summary>The modes whose first pod on a node whose agent just started is timed, one fresh node each.</summary>
    private static readonly string[] ColdModes = ["underlay", "shared", "host-gw", "overlay"];

    /// <summary>Brings the lab up, measures, takes it down (also on failure and Ctrl-C).</summary>
    public void Run(NetnsHandle host)
    {
        // Nodes 1..k: warm pools (node 1 also serves the shared pods); k+1: the 700 allocations; k+2..k+5: a cold
        // pool each for underlay, shared, host-gw and overlay.
        var memoryNode = UnderlayNodes + 1;
        var coldNode = UnderlayNodes + 2;
        var lastNode = options.MemoryOnly ? memoryNode : coldNode + ColdModes.Length - 1;
        Console.WriteLine($"agent modes: lab '{options.LabPrefix}' ({lastNode} × {BenchCniLab.InstanceType}, attach latency {options.AttachLatencyMs} ms), " +
                          $"{options.Cycles} cycles, {options.Rounds} round(s) of {string.Join(", ", ConcurrentLevels)} concurrent, {options.Allocations} allocations");
        var clock = Stopwatch.StartNew();
        using var lab = BenchCniLab.Up(options.LabPrefix, lastNode, options.AttachLatencyMs, line => Console.Error.WriteLine("  " + line));
        results.Note("lab", lab.Describe());
        Console.WriteLine($"  lab up in {clock.Elapsed.TotalSeconds:0.0} s");

        var warm = new List<(LabNodeAgent Agent, Process Process)>();
        for (var i = 1; i <= UnderlayNodes; i++)
        {
            var node = lab.Node(i);
            warm.Add((new LabNodeAgent(node, lab.Socket(node), _records, options.PluginLog), lab.StartAgent(node, WarmEnisPerNode, i == 1 ? WarmIps : 0, 0)));
        }
        var memory = lab.Node(memoryNode);
        var memoryAgent = lab.StartAgent(memory, warmEnis: 0, warmIps: 0, minimumIps: options.Allocations);
        foreach (var (agent, process) in warm)
            lab.WaitFor(agent.Node, process, s => Warm(s, agent.Node == lab.Node(1)), PoolTimeout, "warm pools", scratch);
        Console.WriteLine($"  warm pools full after {clock.Elapsed.TotalSeconds:0.0} s");
        Thread.Sleep(500); // the refiller's last status write and log line, out of the idle figure
        Resident(Names.RssIdle, warm[0].Process.Id);
        foreach (var (_, process) in warm)
            results.Figure(Names.CpuToWarm, "ms").Add(BenchCniLab.CpuMs(process.Id));
        if (options.MemoryOnly)
        {
            Memory(lab, memory, memoryAgent);
            return;
        }

        using var pods = new PodSlots(lab, Math.Max(Top, ChurnWorkers * ChurnSlotsPerWorker));
        var primary = warm[0].Agent;
        Sequential(host, primary, pods);
        if (!scratch.Interrupted) Concurrent(host, warm.Select(w => w.Agent).ToList(), pods);
        if (!scratch.Interrupted) Churn(primary, pods);
        for (var i = 0; i < ColdModes.Length && !scratch.Interrupted; i++)
            Cold(lab, lab.Node(coldNode + i), ColdModes[i]);
        if (!scratch.Interrupted) Memory(lab, memory, memoryAgent);
    }

    /// <summary>The targets of issue 9 §10 from the figures measured (a figure not measured leaves its target "not measured").</summary>
    public void Targets()
    {
        var r = results;
        if (options.MemoryOnly)
        {
            MemoryTargets();
            return;
        }
        r.AtMost("underlay ADD median <= bare move median + 3 ms", r.Median(Names.UnderlayAdd), r.Median(Names.Move) + 3, "ms",
            $"median of {Names.UnderlayAdd} against {Names.Move} + 3, same loop");
        r.AtMost("underlay DEL median <= 5 ms", r.Median(Names.UnderlayDel), 5, "ms", $"median of {Names.UnderlayDel}");
        r.AtMost("ENI warm again <= 1 s after DEL", r.Figure(Names.EniBack).DefaultIfEmpty(double.NaN).Max(), 1000, "ms", $"max of {Names.EniBack}");
        r.AtMost("shared ADD median <= 0.35 x bridge+host-local ADD", r.Median(Names.SharedAdd) / r.Median(Names.BridgeAdd), 0.35, "ratio",
            $"median of {Names.SharedAdd} / median of {Names.BridgeAdd}");
        r.AtMost("shared ADD+DEL median <= 0.25 x bridge+host-local ADD+DEL", r.Median(Names.SharedCycle) / r.Median(Names.BridgeCycle), 0.25, "ratio",
            $"median of {Names.SharedCycle} / median of {Names.BridgeCycle}");
        r.AtMost($"shared ADD p99, {Top} concurrent <= 20 ms", r.P99(Names.SharedConcurrentAdd(Top)), 20, "ms", $"p99 of {Names.SharedConcurrentAdd(Top)}");
        r.AtLeast($"underlay pods/s >= 0.9 x bare moves/s, {Top} concurrent", r.Median(Names.UnderlayPerSecond(Top)) / r.Median(Names.MovesPerSecond(Top)), 0.9, "ratio",
            $"median of {Names.UnderlayPerSecond(Top)} / median of {Names.MovesPerSecond(Top)}");
        if (options.ChurnSeconds > 0)
            r.AtMost("churn: errors == 0", _churnErrors, 0, "errors",
                $"failed ADDs and DELs in {options.ChurnSeconds} s of {Names.Churn} ({ChurnWorkers} workers, shared pods)");
        r.AtMost($"cold pool: first pod <= attach latency + 1 s", r.Median(Names.ColdAdd), options.AttachLatencyMs + 1000, "ms", $"{Names.ColdAdd}, attach latency {options.AttachLatencyMs} ms");
        Floors();
        MemoryTargets();
    }

    private void MemoryTargets()
    {
        var r = results;
        r.AtMost("agent VmRSS idle <= 40 MiB", r.Median(Names.RssIdle), 40, "MiB", Names.RssIdle);
        r.AtMost($"agent VmRSS holding {options.Allocations} allocations <= 64 MiB", r.Median(Names.RssHeld), 64, "MiB", $"{Names.RssHeld} on an {BenchCniLab.InstanceType} node");
    }

    /// <summary>
    /// What the machine makes the least an ADD or DEL can cost, from the floor figures of the same
    /// loop (medians): the plugin's start and one round trip to the agent for every request, plus the
    /// veth and the bare move for an underlay ADD (both need the ENI the reply names); a shared ADD's
    /// veth can be made during the round trip (its names are known before), so its floor is the start
    /// and the longer of the two. A target below its floor cannot be met by any plugin run as a
    /// process per request (the CNI contract) on this machine.
    /// </summary>
    private void Floors()
    {
        var r = results;
        var call = r.Median(Names.FloorStart) + r.Median(Names.FloorRoundTrip);
        var veth = r.Median(Names.FloorVeth);
        r.Floor("underlay ADD floor", call + veth + r.Median(Names.Move), "ms",
            $"{Names.FloorStart} + {Names.FloorRoundTrip} + {Names.FloorVeth} + {Names.Move}");
        r.Floor("underlay ADD floor - bare move", call + veth, "ms", "the floor's part above the move (the target allows 3 ms)");
        r.Floor("DEL floor", call, "ms", $"{Names.FloorStart} + {Names.FloorRoundTrip} (the target allows 5 ms)");
        var sharedAdd = r.Median(Names.FloorStart) + Math.Max(r.Median(Names.FloorRoundTrip), veth);
        r.Floor("shared ADD floor", sharedAdd, "ms", $"{Names.FloorStart} + the longer of {Names.FloorRoundTrip} and {Names.FloorVeth}");
        r.Floor("shared ADD floor / bridge+host-local ADD", sharedAdd / r.Median(Names.BridgeAdd), "ratio",
            $"shared ADD floor / median of {Names.BridgeAdd} (the target allows 0.35)");
        r.Floor("shared ADD+DEL floor / bridge+host-local ADD+DEL", (sharedAdd + call) / r.Median(Names.BridgeCycle), "ratio",
            $"(ADD floor + DEL floor) / median of {Names.BridgeCycle} (the target allows 0.25)");
        // N ADDs released at once: none can beat N plugin starts and N veths released at once, timed the same way.
        r.Floor($"shared ADD p99, {Top} concurrent floor", r.P99(Names.FloorConcurrentStartVeth(Top)), "ms",
            $"p99 of {Names.FloorConcurrentStartVeth(Top)} (the target allows 20 ms)");
        r.Floor($"plugin start p99, {Top} concurrent", r.P99(Names.FloorConcurrentStart(Top)), "ms",
            $"p99 of {Names.FloorConcurrentStart(Top)}: the starts alone");
        r.Floor($"veth p99, {Top} concurrent, no process", r.P99(Names.FloorConcurrentVeth(Top)), "ms",
            $"p99 of {Names.FloorConcurrentVeth(Top)}: the kernel's part alone, each create under RTNL (a shared ADD adds its wiring's requests)");
        // ... and the last cannot end before this plugin's CPU is spent on this many cores.
        r.Floor($"shared ADD p99, {Top} concurrent, this plugin's CPU", Top * r.Median(Names.FloorSharedCpu) / Environment.ProcessorCount, "ms",
            $"{Top} × median of {Names.FloorSharedCpu} / {Environment.ProcessorCount} cores, the agent's share not counted");
    }

    /// <summary>VmRSS as the figure <paramref name="name"/>, and its file-backed and anonymous parts beside it.</summary>
    private void Resident(string name, int pid)
    {
        results.Figure(name, "MiB").Add(BenchCniLab.ResidentMiB(pid));
        results.Figure(name + ": RssFile", "MiB").Add(BenchCniLab.ResidentMiB(pid, "RssFile"));
        results.Figure(name + ": RssAnon", "MiB").Add(BenchCniLab.ResidentMiB(pid, "RssAnon"));
    }

    private bool Warm(AgentStatus s, bool servesShared) =>
        BenchCniLab.Pool(s, AllocationMode.Underlay).Available >= WarmEnisPerNode &&
        (!servesShared || BenchCniLab.Pool(s, AllocationMode.Shared).Available >= WarmIps);

    /// <summary>A node and its agent's socket.</summary>
    private sealed record LabNodeAgent(LabNode Node, string Socket, string Records, string? PluginLog = null)
    {
        public AgentClient Client { get; } = new(Socket, TimeSpan.FromSeconds(10));

        /// <summary>Waits until the agent has no teardown pending and no ENI in a pod: every pod's eth0 is gone.</summary>
        public void WaitTornDown()
        {
            if (double.IsNaN(Until(() => Client.Status() is var s && s.PendingTeardowns == 0 && s.Enis.All(e => e.Use != "underlay"), TimeSpan.FromSeconds(30))))
                throw new InvalidOperationException($"{Node.Name}: the agent's teardowns were not done 30 s after the DELs");
        }

        /// <summary>The network config of <paramref name="mode"/>; <paramref name="logged"/>: with <see cref="PluginLog"/> as its <c>logFile</c>, when there is one.</summary>
        public byte[] Config(string mode, bool logged = false)
        {
            var log = logged && PluginLog is not null ? ",\"logFile\":\"" + System.Text.Json.JsonEncodedText.Encode(PluginLog) + "\"" : "";
            return Encoding.UTF8.GetBytes(
                $$"""{"cniVersion":"1.1.0","name":"fathom-bench-{{mode}}","type":"fathom","mode":"{{mode}}","agentSocket":"{{Socket}}","dataDir":"{{Records}}"{{log}}}""");
        }
    }

    /// <summary>
    /// The pods' namespaces, made once and reused cycle after cycle (making and deleting a netns is
    /// not what a CNI ADD costs), in the lab (<c>{prefix}-pod-bench{i}</c>), so lab down removes any left.
    /// </summary>
    private sealed class PodSlots : IDisposable
    {
        private readonly List<string> _names = [];

        public PodSlots(BenchCniLab lab, int count)
        {
            for (var i = 0; i < count + 2; i++)
            {
                var name = lab.Layout.PodNetns($"bench{i}");
                using var ns = Netns.Create(name);
                using var links = NetlinkHandle.OpenIn(ns);
                links.SetLinkUp(links.GetLink("lo").Index); // the pause container's job
                _names.Add(name);
            }
        }

        public string Path(int slot) => System.IO.Path.Combine(Netns.RunDirectory, _names[slot]);

        public string Name(int slot) => _names[slot];

        /// <summary>Waits until the first <paramref name="count"/> slots hold no pod interface (eth0) any more.</summary>
        /// <exception cref="InvalidOperationException">One still has it after 30 s.</exception>
        public void WaitEmpty(int count)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            for (var slot = 0; slot < count; slot++)
            {
                using var ns = Netns.Open(_names[slot]);
                using var links = NetlinkHandle.OpenIn(ns);
                while (links.TryGetLink("eth0", out _))
                {
                    if (DateTime.UtcNow > deadline)
                        throw new InvalidOperationException($"{_names[slot]}: eth0 still there 30 s after its DEL (the agent's teardown)");
                    Thread.Sleep(10);
                }
            }
        }

        public void Dispose()
        {
            foreach (var name in _names) Netns.TryDelete(name);
        }
    }

    /// <summary>Runs <paramref name="action"/> on <paramref name="count"/> threads released at once; the wall time of all, in ms.</summary>
    private static double AllAtOnce(int count, Action<int> action)
    {
        using var start = new Barrier(count + 1);
        var failures = new List<Exception>();
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                action(i);
            }
            catch (Exception e)
            {
                lock (failures) failures.Add(e);
            }
        }) { IsBackground = true }).ToList();
        foreach (var t in threads) t.Start();
        start.SignalAndWait();
        var clock = Stopwatch.StartNew();
        foreach (var t in threads) t.Join();
        var elapsed = clock.Elapsed.TotalMilliseconds;
        if (failures.Count > 0) throw new AggregateException($"{failures.Count} of {count} concurrent runs failed: {failures[0].Message}", failures);
        return elapsed;
    }

    /// <summary>Polls until <paramref name="done"/> holds; the time it took in ms, or NaN after <paramref name="timeout"/>.</summary>
    private static double Until(Func<bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > timeout) return double.NaN;
            Thread.Sleep(2);
        }
        return clock.Elapsed.TotalMilliseconds;
    }
}
