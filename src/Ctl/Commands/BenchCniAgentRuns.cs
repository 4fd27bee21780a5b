using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fathom.Agent.Protocol;
using Fathom.Datapath;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Ctl;

internal sealed partial class BenchCniAgentModes
{
    /// <summary>Figure names: the JSON's and the table's, and issue 12's report reads them.</summary>
    internal static class Names
    {
        public const string Move = "bare netns move";
        public const string UnderlayAdd = "underlay ADD (warm pool)";
        public const string UnderlayDel = "underlay DEL";
        public const string EniBack = "underlay DEL → ENI warm again";
        public const string SharedAdd = "shared ADD (warm pool)";
        public const string SharedDel = "shared DEL";
        public const string SharedCycle = "shared ADD+DEL";
        public const string HostGwAdd = "host-gw ADD (warm)";
        public const string HostGwDel = "host-gw DEL";
        public const string OverlayAdd = "overlay ADD";
        public const string OverlayDel = "overlay DEL";
        public const string BridgeAdd = "bridge+host-local ADD";
        public const string BridgeDel = "bridge+host-local DEL";
        public const string BridgeCycle = "bridge+host-local ADD+DEL";
        public static string MovesPerSecond(int level) => $"bare moves/s, {level} concurrent";
        public static string UnderlayPerSecond(int level) => $"underlay pods/s, {level} concurrent";
        public static string UnderlayConcurrentAdd(int level) => $"underlay ADD, {level} concurrent";
        public static string SharedConcurrentAdd(int level) => $"shared ADD, {level} concurrent";
        public static string BridgeConcurrentAdd(int level) => $"bridge+host-local ADD, {level} concurrent";
        public static string SubnetConcurrentAdd(string mode, int level) => $"{mode} ADD, {level} concurrent";
        public static string ConcurrentDel(string mode, int level) => $"{mode} DEL, {level} concurrent";
        public const string Churn = "pods/s sustained churn";
        public const string ColdAdd = "cold pool: first pod ADD";
        public const string ColdFromStart = "cold pool: agent start → first pod";
        public static string ColdAddOf(string mode) => $"cold pool: first {mode} pod ADD";
        public static string ColdFromStartOf(string mode) => $"cold pool: agent start → first {mode} pod";
        public const string RssIdle = "agent VmRSS, idle (warm pools full)";
        public const string CpuToWarm = "agent CPU, start until warm pools full";
        public const string RssHeld = "agent VmRSS, allocations held";
        public const string AllocateRoundTrip = "agent Allocate round trip (no plugin)";
        public const string ReleaseRoundTrip = "agent Release round trip (no plugin)";
        public const string AllocateRoundTripSpaced = "agent Allocate round trip, 20 ms apart";
        public const string FloorStart = "floor: fathom VERSION (process start)";
        public const string FloorRoundTrip = "floor: agent round trip (CHECK, as pods come)";
        public const string FloorVeth = "floor: veth with its peer in the pod netns";
        public const string FloorSharedCpu = "floor: CPU of one shared ADD (plugin process)";
        public static string FloorConcurrentStart(int level) => $"floor: fathom VERSION, {level} concurrent";
        public static string FloorConcurrentStartVeth(int level) => $"floor: fathom VERSION then a veth, {level} concurrent";
        public static string FloorConcurrentVeth(int level) => $"floor: a veth, {level} concurrent, no process";
    }

    /// <summary>
    /// The sequential cycles, one loop: each cycle times an underlay ADD and DEL through the agent
    /// (then how long until the agent has the ENI warm again), a shared ADD and DEL, a host-gw and an
    /// overlay ADD and DEL (the node's subnet leased by its agent, issue 10), the reference
    /// bridge + host-local ADD and DEL, and a bare netns move each way — the order rotating, so
    /// each sees the same machine at the same moment.
    /// </summary>
    private void Sequential(NetnsHandle host, LabNodeAgent agent, PodSlots pods)
    {
        using var node = Netns.Open(agent.Node.Netns);
        var bridgePod = scratch.NameFor("-pod-bridge");
        var movePod = scratch.NameFor("-pod-move");
        scratch.CreateNetns("-pod-bridge").Dispose();
        using var moveNs = scratch.CreateNetns("-pod-move");
        using var hostLinks = NetlinkHandle.OpenIn(host);
        using var moveLinks = NetlinkHandle.OpenIn(moveNs);
        hostLinks.CreateVeth("bench-m", "bench-mp");
        var bridgeConfig = BridgeConfig(scratch.CreateDirectory("-host-local"));
        var steps = new Action<int, bool>[]
        {
            (i, record) =>
            {
                var id = $"bench-u-{i}";
                var (add, result) = Netns.Run(node, () => BenchCniExec.RunForResult(plugin, "fathom underlay", "ADD", id, pods.Path(0), agent.Config("underlay", logged: record)));
                var mac = PodMac(result);
                var del = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom underlay", "DEL", id, pods.Path(0), agent.Config("underlay", logged: record)));
                // Back: the very ENI the pod had is warm on the node again (the refiller may have attached others meanwhile).
                var back = Until(() => agent.Client.Status().Enis.Any(e => e.Use == "warm" && e.HostDevice is not null &&
                                                                           string.Equals(e.Mac, mac, StringComparison.OrdinalIgnoreCase)), TimeSpan.FromSeconds(10));
                if (double.IsNaN(back)) throw new InvalidOperationException($"the ENI of underlay pod {id} was not warm again 10 s after its DEL");
                if (!record) return;
                results.Figure(Names.UnderlayAdd).Add(add);
                results.Figure(Names.UnderlayDel).Add(del);
                results.Figure(Names.EniBack).Add(back);
            },
            (i, record) =>
            {
                var id = $"bench-s-{i}";
                var cpu = BenchCniExec.ChildrenCpuMs();
                var add = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom shared", "ADD", id, pods.Path(1), agent.Config("shared", logged: record)));
                cpu = BenchCniExec.ChildrenCpuMs() - cpu;
                var del = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom shared", "DEL", id, pods.Path(1), agent.Config("shared", logged: record)));
                if (!record) return;
                results.Figure(Names.SharedAdd).Add(add);
                results.Figure(Names.SharedDel).Add(del);
                results.Figure(Names.SharedCycle).Add(add + del);
                results.Figure(Names.FloorSharedCpu).Add(cpu);
            },
            (i, record) => SubnetCycle(node, agent, "host-gw", $"bench-h-{i}", pods.Path(2), record ? (Names.HostGwAdd, Names.HostGwDel) : null),
            (i, record) => SubnetCycle(node, agent, "overlay", $"bench-o-{i}", pods.Path(3), record ? (Names.OverlayAdd, Names.OverlayDel) : null),
            (i, record) =>
            {
                var netns = Path.Combine(Netns.RunDirectory, bridgePod);
                var add = Netns.Run(host, () => BenchCniExec.Run(bridgePlugin, "bridge", "ADD", "bench-b", netns, bridgeConfig));
                var del = Netns.Run(host, () => BenchCniExec.Run(bridgePlugin, "bridge", "DEL", "bench-b", netns, bridgeConfig));
                if (!record) return;
                results.Figure(Names.BridgeAdd).Add(add);
                results.Figure(Names.BridgeDel).Add(del);
                results.Figure(Names.BridgeCycle).Add(add + del);
            },
            (i, record) =>
            {
                // The floors (docs/benchmarks.md): what any ADD through the agent pays before it
                // does anything of its own — the plugin's start, one round trip to the agent (a CHECK
                // of no pod: the smallest request, spaced as pods come) and the veth of a shared pod
                // or an underlay pod's small one; the move is the bare move below.
                var start = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom", "VERSION", "bench-v", pods.Path(0), agent.Config("shared")));
                var trip = Time(() => agent.Client.Send(new CheckRequest { Network = "fathom-bench-floor", ContainerId = $"bench-f-{i}", IfName = "eth0" }));
                var name = $"bench-f{i}";
                var veth = Time(() => hostLinks.CreateVeth(name, name + "p", moveNs, PodVeth));
                hostLinks.TryDeleteLink(name);
                if (!record) return;
                results.Figure(Names.FloorStart).Add(start);
                results.Figure(Names.FloorRoundTrip).Add(trip);
                results.Figure(Names.FloorVeth).Add(veth);
            },
            (_, record) =>
            {
                var there = Time(() => hostLinks.MoveLinkToNetns(hostLinks.GetLink("bench-m").Index, moveNs));
                var back = Time(() => moveLinks.MoveLinkToNetns(moveLinks.GetLink("bench-m").Index, host));
                if (!record) return;
                results.Figure(Names.Move).Add(there);
                results.Figure(Names.Move).Add(back);
            },
        };
        for (var i = 0; i < WarmupCycles + options.Cycles && !scratch.Interrupted; i++)
            for (var s = 0; s < steps.Length; s++)
                steps[(i + s) % steps.Length](i, i >= WarmupCycles);
        Console.WriteLine($"  {results.Figure(Names.UnderlayAdd).Count} sequential cycles done");
    }

    /// <summary>One ADD and DEL of a pod in a subnet mode (host-gw, overlay): an address from the node's leased subnet behind a veth.</summary>
    private void SubnetCycle(NetnsHandle node, LabNodeAgent agent, string mode, string id, string netns, (string Add, string Del)? figures)
    {
        var add = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom " + mode, "ADD", id, netns, agent.Config(mode, logged: figures is not null)));
        var del = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom " + mode, "DEL", id, netns, agent.Config(mode, logged: figures is not null)));
        if (figures is not { } f) return;
        results.Figure(f.Add).Add(add);
        results.Figure(f.Del).Add(del);
    }

    /// <summary>The MAC of the pod's interface in an ADD's result.</summary>
    private static string PodMac(string result) =>
        System.Text.Json.Nodes.JsonNode.Parse(result)?["interfaces"]?.AsArray()
            .FirstOrDefault(i => i?["sandbox"] is not null)?["mac"]?.GetValue<string>()
        ?? throw new InvalidOperationException($"the underlay ADD's result names no interface with a MAC in the pod: {result}");

    private static byte[] BridgeConfig(string dataDir) => Encoding.UTF8.GetBytes(
        $$$"""
        {"cniVersion":"1.0.0","name":"fathom-bench-bridge","type":"bridge","bridge":"fbench0","isGateway":true,
         "ipam":{"type":"host-local","subnet":"198.19.0.0/24","dataDir":"{{{dataDir}}}"}}
        """);

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>
    /// The concurrent rounds, level by level (e.g. 8 then 32): that many bare moves at once (the
    /// kernel's floor: moves are serialized under RTNL), as many underlay ADDs at once spread over
    /// the warm nodes, and as many shared, host-gw and overlay ADDs at once on node 1; each round's
    /// DELs, and the pools warm again, before the next.
    /// </summary>
    private void Concurrent(NetnsHandle host, List<LabNodeAgent> agents, PodSlots pods)
    {
        var top = Top;
        using var moveNs = Netns.Open(scratch.NameFor("-pod-move"));
        var hostHandles = Enumerable.Range(0, top).Select(_ => NetlinkHandle.OpenIn(host)).ToList();
        var podHandles = Enumerable.Range(0, top).Select(_ => NetlinkHandle.OpenIn(moveNs)).ToList();
        var nodes = agents.Select(a => Netns.Open(a.Node.Netns)).ToList();
        var bridgeConfig = BridgeConfig(scratch.CreateDirectory("-host-local-concurrent"));
        try
        {
            for (var i = 0; i < top; i++) hostHandles[0].CreateVeth($"bench-c{i}", $"bench-c{i}p");
            foreach (var n in ConcurrentLevels)
            {
                for (var round = 0; round < options.Rounds && !scratch.Interrupted; round++)
                {
                    var there = AllAtOnce(n, i => hostHandles[i].MoveLinkToNetns(hostHandles[i].GetLink($"bench-c{i}").Index, moveNs));
                    var back = AllAtOnce(n, i => podHandles[i].MoveLinkToNetns(podHandles[i].GetLink($"bench-c{i}").Index, host));
                    results.Figure(Names.MovesPerSecond(n), "1/s").Add(n * 1000 / there);
                    results.Figure(Names.MovesPerSecond(n), "1/s").Add(n * 1000 / back);

                    var id = $"{n}-{round}";
                    var underlay = AllAtOnce(n, i => Pod(nodes[i % nodes.Count], agents[i % agents.Count], "underlay", "ADD", $"bench-cu-{id}-{i}", pods.Path(i), Names.UnderlayConcurrentAdd(n)));
                    results.Figure(Names.UnderlayPerSecond(n), "1/s").Add(n * 1000 / underlay);
                    AllAtOnce(n, i => Pod(nodes[i % nodes.Count], agents[i % agents.Count], "underlay", "DEL", $"bench-cu-{id}-{i}", pods.Path(i), Names.ConcurrentDel("underlay", n)));
                    foreach (var agent in agents) agent.WaitTornDown();

                    AllAtOnce(n, i => Pod(nodes[0], agents[0], "shared", "ADD", $"bench-cs-{id}-{i}", pods.Path(i), Names.SharedConcurrentAdd(n)));
                    AllAtOnce(n, i => Pod(nodes[0], agents[0], "shared", "DEL", $"bench-cs-{id}-{i}", pods.Path(i), Names.ConcurrentDel("shared", n)));
                    agents[0].WaitTornDown();
                    ConcurrentFloor(n, nodes[0], agents[0], hostHandles, moveNs, pods);
                    // The reference at the same width, in the same pod namespaces: what a runtime gets from bridge + host-local.
                    AllAtOnce(n, i => BridgePod(host, "ADD", $"bench-cb-{id}-{i}", pods.Path(i), bridgeConfig, Names.BridgeConcurrentAdd(n)));
                    AllAtOnce(n, i => BridgePod(host, "DEL", $"bench-cb-{id}-{i}", pods.Path(i), bridgeConfig, null));

                    foreach (var mode in (string[])["host-gw", "overlay"])
                    {
                        AllAtOnce(n, i => Pod(nodes[0], agents[0], mode, "ADD", $"bench-c{mode[0]}-{id}-{i}", pods.Path(i), Names.SubnetConcurrentAdd(mode, n)));
                        AllAtOnce(n, i => Pod(nodes[0], agents[0], mode, "DEL", $"bench-c{mode[0]}-{id}-{i}", pods.Path(i), Names.ConcurrentDel(mode, n)));
                        // A subnet mode's veth goes in the agent's own background loop, which the
                        // agent's status does not count: wait for the pods' eth0 to be gone instead.
                        pods.WaitEmpty(n);
                    }
                }
                if (scratch.Interrupted) break;
                Console.WriteLine($"  {results.Figure(Names.UnderlayPerSecond(n)).Count} concurrent round(s) of {n} done");
            }
        }
        finally
        {
            foreach (var h in hostHandles.Concat(podHandles)) h.Dispose();
            foreach (var ns in nodes) ns.Dispose();
        }
    }

    // The floors' veth is made as the plugin makes a pod's (NodeVeth): the node end up, one queue per end.
    private static readonly VethOptions PodVeth = new() { Up = true, Queues = NodeVeth.Queues };

    /// <summary>
    /// The floor of <paramref name="n"/> shared ADDs released at once, timed as they are: each of
    /// <paramref name="n"/> threads starts the plugin (VERSION: its start and nothing else) and then
    /// creates a veth with its peer in a pod namespace — what every concurrent ADD must pay on these
    /// cores with nothing of the agent's or the wiring's; then the same veths from this process's
    /// threads alone, the kernel's part. The veths go again before the next round.
    /// </summary>
    private void ConcurrentFloor(int n, NetnsHandle node, LabNodeAgent agent, List<NetlinkHandle> hostHandles, NetnsHandle podNs, PodSlots pods)
    {
        try
        {
            AllAtOnce(n, i =>
            {
                var start = Netns.Run(node, () => BenchCniExec.Run(plugin, "fathom", "VERSION", $"bench-fc-{i}", pods.Path(i), agent.Config("shared")));
                var veth = Time(() => hostHandles[i].CreateVeth($"bench-fc{i}", $"bench-fc{i}p", podNs, PodVeth));
                lock (results)
                {
                    results.Figure(Names.FloorConcurrentStart(n)).Add(start);
                    results.Figure(Names.FloorConcurrentStartVeth(n)).Add(start + veth);
                }
            });
        }
        finally
        {
            for (var i = 0; i < n; i++) hostHandles[0].TryDeleteLink($"bench-fc{i}");
        }
        // The kernel's part alone: the same veths from threads of this process, nothing started.
        // Each create takes RTNL, so they end one after another whoever sends them.
        try
        {
            AllAtOnce(n, i =>
            {
                var veth = Time(() => hostHandles[i].CreateVeth($"bench-fk{i}", $"bench-fk{i}p", podNs, PodVeth));
                lock (results) results.Figure(Names.FloorConcurrentVeth(n)).Add(veth);
            });
        }
        finally
        {
            for (var i = 0; i < n; i++) hostHandles[0].TryDeleteLink($"bench-fk{i}");
        }
    }

    // NaN until the churn ran: its target is then "not measured".
    private double _churnErrors = double.NaN;

    /// <summary>
    /// Sustained churn (issue 12 §2): <see cref="ChurnWorkers"/> workers, each cycling shared pods in
    /// namespaces of its own (ADD, then DEL; a namespace again once the agent removed its eth0) on
    /// node 1 for <c>ChurnSeconds</c>; the cycles completed in each second
    /// are the figure's samples, and every failed ADD or DEL counts as an error (the pod is then
    /// deleted, best effort, and the worker goes on).
    /// </summary>
    private void Churn(LabNodeAgent agent, PodSlots pods)
    {
        if (options.ChurnSeconds <= 0) return;
        using var node = Netns.Open(agent.Node.Netns);
        var perSecond = new int[options.ChurnSeconds];
        var errors = 0;
        string? firstError = null;
        var duration = TimeSpan.FromSeconds(options.ChurnSeconds);
        // Each worker's namespaces, opened once: before an ADD, the slot's eth0 of its last DEL must be gone.
        var slots = Enumerable.Range(0, ChurnWorkers * ChurnSlotsPerWorker).Select(i =>
        {
            using var ns = Netns.Open(pods.Name(i));
            return NetlinkHandle.OpenIn(ns);
        }).ToList();
        var clock = Stopwatch.StartNew();
        try
        {
            AllAtOnce(ChurnWorkers, w =>
            {
                for (var c = 0; clock.Elapsed < duration && !scratch.Interrupted; c++)
                {
                    var slot = w * ChurnSlotsPerWorker + c % ChurnSlotsPerWorker;
                    var id = $"bench-churn-{w}-{c}";
                    try
                    {
                        if (double.IsNaN(Until(() => !slots[slot].TryGetLink("eth0", out _), TimeSpan.FromSeconds(10))))
                            throw new InvalidOperationException($"{pods.Name(slot)}: eth0 still there 10 s after its DEL");
                        Pod(node, agent, "shared", "ADD", id, pods.Path(slot), null);
                        Pod(node, agent, "shared", "DEL", id, pods.Path(slot), null);
                        var second = (int)clock.Elapsed.TotalSeconds;
                        if (second < perSecond.Length) Interlocked.Increment(ref perSecond[second]);
                    }
                    catch (Exception e) when (!scratch.Interrupted)
                    {
                        Interlocked.Increment(ref errors);
                        Interlocked.CompareExchange(ref firstError, e.Message, null);
                        try
                        {
                            Pod(node, agent, "shared", "DEL", id, pods.Path(slot), null);
                        }
                        catch (Exception)
                        {
                            // Counted already; the next cycle uses a new container ID.
                        }
                    }
                }
            });
        }
        finally
        {
            foreach (var h in slots) h.Dispose();
        }
        if (scratch.Interrupted) return;
        results.Figure(Names.Churn, "1/s").AddRange(perSecond.Select(n => (double)n));
        _churnErrors = errors;
        agent.WaitTornDown();
        Console.WriteLine($"  churn: {perSecond.Sum()} ADD+DEL cycles in {options.ChurnSeconds} s, {errors} error(s){(firstError is null ? "" : ": " + firstError)}");
    }

    private void Pod(NetnsHandle node, LabNodeAgent agent, string mode, string command, string id, string netns, string? figure) =>
        Timed(node, plugin, "fathom " + mode, command, id, netns, agent.Config(mode), figure);

    private void BridgePod(NetnsHandle host, string command, string id, string netns, byte[] config, string? figure) =>
        Timed(host, bridgePlugin, "bridge", command, id, netns, config, figure);

    /// <summary>One plugin run from <paramref name="from"/>'s namespace, its time added to <paramref name="figure"/> (none: not recorded).</summary>
    private void Timed(NetnsHandle from, string binary, string name, string command, string id, string netns, byte[] config, string? figure)
    {
        var ms = Netns.Run(from, () => BenchCniExec.Run(binary, name, command, id, netns, config));
        if (figure is not null) lock (results) results.Figure(figure).Add(ms);
    }

    /// <summary>
    /// The cold pool: the node's agent starts now, with nothing attached but the primary ENI; as
    /// soon as it answers, an underlay pod's ADD (a kubelet that had the pod waiting), which waits
    /// for the first ENI's create and attach (the lab's attach latency) and its configuration.
    /// </summary>
    private void Cold(BenchCniLab lab, LabNode node, string mode)
    {
        var pods = lab.Layout.PodNetns("benchcold" + mode.Replace("-", "", StringComparison.Ordinal));
        using (Netns.Create(pods)) { }
        var clock = Stopwatch.StartNew();
        var process = lab.StartAgent(node, warmEnis: 1, warmIps: 2, minimumIps: 0);
        lab.WaitFor(node, process, _ => true, PoolTimeout, "answer", scratch);
        var agent = new LabNodeAgent(node, lab.Socket(node), _records);
        using var ns = Netns.Open(node.Netns);
        var add = Netns.Run(ns, () => BenchCniExec.Run(plugin, $"fathom {mode} (cold)", "ADD", "bench-cold-" + mode, Path.Combine(Netns.RunDirectory, pods), agent.Config(mode)));
        var underlay = mode == "underlay";
        results.Figure(underlay ? Names.ColdFromStart : Names.ColdFromStartOf(mode)).Add(clock.Elapsed.TotalMilliseconds);
        results.Figure(underlay ? Names.ColdAdd : Names.ColdAddOf(mode)).Add(add);
        Console.WriteLine($"  cold pool, {mode}: first pod networked {add:0} ms after its ADD ({clock.Elapsed.TotalMilliseconds:0} ms after the agent started)");
    }

    /// <summary>
    /// The memory node: its agent keeps <c>Allocations</c> secondary IPs (minimumIps); once they are
    /// there, that many shared allocations are taken straight through the agent's socket (no pods:
    /// the agent holds the same records either way) and its VmRSS read.
    /// </summary>
    private void Memory(BenchCniLab lab, LabNode node, Process process)
    {
        var spacedRequests = Math.Min(50, options.Allocations / 2);
        lab.WaitFor(node, process, s => BenchCniLab.Pool(s, AllocationMode.Shared).Available >= options.Allocations, PoolTimeout,
            $"{options.Allocations} free IPs", scratch);
        var client = new AgentClient(lab.Socket(node), TimeSpan.FromSeconds(30));
        for (var i = 0; i < options.Allocations && !scratch.Interrupted; i++)
        {
            var id = "bench-mem-" + i.ToString(CultureInfo.InvariantCulture);
            var ms = Time(() => client.Allocate(new AllocateRequest
            {
                Network = "fathom-bench-shared",
                ContainerId = id,
                IfName = "eth0",
                NetnsPath = Path.Combine(Netns.RunDirectory, lab.Layout.PodNetns(id)),
                RequestedMode = AllocationMode.Shared,
            }));
            // The first ones 20 ms apart, as a pod's ADDs come: the agent's threads are parked by then.
            results.Figure(i < spacedRequests ? Names.AllocateRoundTripSpaced : Names.AllocateRoundTrip).Add(ms);
            if (i < spacedRequests) Thread.Sleep(20);
        }
        Thread.Sleep(500);
        Resident(Names.RssHeld, process.Id);
        Console.WriteLine($"  memory node: {client.Status().Allocations.Count} allocations held");
        // The release side of the same requests: what a DEL costs in the agent, without the plugin.
        for (var i = 0; i < options.Allocations && !scratch.Interrupted; i++)
        {
            var id = "bench-mem-" + i.ToString(CultureInfo.InvariantCulture);
            results.Figure(Names.ReleaseRoundTrip).Add(Time(() => client.Release(new ReleaseRequest { Network = "fathom-bench-shared", ContainerId = id, IfName = "eth0" })));
        }
    }
}
