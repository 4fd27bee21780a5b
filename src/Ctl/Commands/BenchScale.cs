using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Fathom.Agent.Protocol;
using Fathom.Lab;
using Fathom.Lab.Control;
using Fathom.Lab.Ec2;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>Settings of <see cref="BenchScale"/>.</summary>
/// <param name="Nodes">Lab nodes.</param>
/// <param name="InstanceType">Their instance type (its ENI and IP limits set the capacity).</param>
/// <param name="UnderlayPerNode">Pods per node that get an exclusive ENI; the rest get shared IPs.</param>
/// <param name="Pairs">Pod pairs of the sampled all-pairs check.</param>
/// <param name="LabPrefix">The lab's name prefix: a lab of its own, brought up and down by the bench.</param>
/// <param name="JsonPath">Where to write the figures and targets as JSON, or null.</param>
/// <param name="Agents">Simulated agents scaling out against the EC2 API under account limits (0: none).</param>
/// <param name="PodsPerAgent">Pods each simulated agent networks.</param>
/// <param name="Lab">Whether to fill the lab (false: the simulation only).</param>
internal sealed record BenchScaleOptions(int Nodes = 4, string InstanceType = "c5.4xlarge", int UnderlayPerNode = 0, int Pairs = 50,
    string LabPrefix = "fscale", string? JsonPath = null, int Agents = 100, int PodsPerAgent = 60, bool Lab = true)
{
    /// <summary>Pods one node holds: the underlay pods' ENIs, plus every other ENI's secondary IPs (DESIGN.md §3).</summary>
    public int CapacityPerNode(InstanceTypeLimits t) => UnderlayPerNode + (t.MaximumNetworkInterfaces - UnderlayPerNode) * (t.Ipv4AddressesPerInterface - 1);
}

/// <summary>
/// <c>fathomctl bench scale</c> (issue 12 §3, DESIGN.md §9 "lab scale"): a lab of
/// <see cref="BenchScaleOptions.Nodes"/> instances with their agents, filled to capacity through
/// the fathom plugin (exclusive ENIs where asked, shared IPs for the rest) — the time to network
/// them all; every pod reached from one probe pod, plus a sampled all-pairs check; then every pod
/// deleted, and nothing left behind: no allocation or teardown in any agent, no veth or rule in
/// any node, no ENI in the cloud the agent does not know, no namespace once the lab is down.
/// </summary>
internal sealed class BenchScale(BenchScaleOptions options)
{
    private readonly LabLayout _layout = new(options.LabPrefix);
    private readonly Dictionary<string, double> _figures = [];

    internal static readonly Option<int> Nodes = NumberOptions.Integer("--nodes", "Lab nodes, 1..8.", 4);
    internal static readonly Option<string> InstanceType = new("--instance-type") { Description = "Their instance type.", DefaultValueFactory = _ => "c5.4xlarge" };
    internal static readonly Option<int> Underlay = NumberOptions.Integer("--underlay", "Pods per node with an exclusive ENI; the rest get shared IPs.", 0);
    internal static readonly Option<int> Pairs = NumberOptions.Integer("--pairs", "Pod pairs of the sampled all-pairs check.", 50);
    internal static readonly Option<string> Prefix = new("--lab-prefix") { Description = "The name prefix of the bench's own lab.", DefaultValueFactory = _ => "fscale" };
    internal static readonly Option<int> Agents = NumberOptions.Integer("--agents", "Simulated agents scaling a cluster out under EC2's account limits; 0 skips the simulation.", 100);
    internal static readonly Option<int> PodsPerAgent = NumberOptions.Integer("--pods-per-agent", "Shared-mode pods each simulated agent networks.", 60);
    internal static readonly Option<bool> NoLab = new("--no-lab") { Description = "Only the simulation: no lab is filled." };
    internal static readonly Option<string> Json = new("--json") { Description = "Also write the figures and targets to this JSON file (bench report reads it).", HelpName = "FILE" };

    public static Command Create()
    {
        var command = new Command("scale", "Fill a lab (4 × c5.4xlarge) to capacity through the plugin and the agents: time to network every pod, all reachable, all deleted with nothing leaked.")
        {
            Nodes, InstanceType, Underlay, Pairs, Prefix, Agents, PodsPerAgent, NoLab, Json,
        };
        command.SetAction(parse =>
        {
            if (!Environment.IsPrivilegedProcess)
                throw new InvalidOperationException("needs root: it brings up a lab of namespaces and agents (as root: fathomctl bench scale)");
            var options = new BenchScaleOptions(parse.GetValue(Nodes), parse.GetValue(InstanceType)!, parse.GetValue(Underlay), parse.GetValue(Pairs),
                parse.GetValue(Prefix)!, parse.GetValue(Json), parse.GetValue(Agents), parse.GetValue(PodsPerAgent), !parse.GetValue(NoLab));
            return new BenchScale(options).Run();
        });
        return command;
    }

    public int Run()
    {
        var type = InstanceTypeLimits.Known.FirstOrDefault(t => t.Name == options.InstanceType)
            ?? throw new ArgumentException($"--instance-type: unknown '{options.InstanceType}' (known: {string.Join(", ", InstanceTypeLimits.Known.Select(t => t.Name))})");
        if (options.Nodes is < 1 or > 8) throw new ArgumentException("--nodes: 1..8");
        if (options.UnderlayPerNode < 0 || options.UnderlayPerNode > type.MaximumNetworkInterfaces - 1)
            throw new ArgumentException($"--underlay: 0..{type.MaximumNetworkInterfaces - 1} on {type.Name} (its ENIs but the primary)");
        if (options.Agents is < 0 or > 1000 || options.PodsPerAgent is < 1 or > 200)
            throw new ArgumentException("--agents: 0..1000, --pods-per-agent: 1..200");
        if (options.Lab && LabStatus.Read(_layout).State != "down")
            throw new InvalidOperationException($"lab '{_layout.Prefix}' is up: bench scale brings up a lab of its own (FATHOM_LAB_PREFIX={_layout.Prefix} fathomctl lab down, or --lab-prefix)");
        var targets = new List<BenchTarget>();
        if (options.Lab) targets.AddRange(RunLab(type));
        var simulation = new Dictionary<string, double>();
        if (options.Agents > 0) targets.AddRange(RunSimulation(type, simulation));
        Console.WriteLine();
        foreach (var t in targets) Console.WriteLine(t.Line);
        if (options.JsonPath is not null) WriteJson(options.JsonPath, type, simulation, targets);
        return 0;
    }

    private List<BenchTarget> RunLab(InstanceTypeLimits type)
    {
        var capacity = options.CapacityPerNode(type) * options.Nodes;
        _figures["capacity"] = capacity;
        Console.WriteLine($"fathomctl bench scale: {options.Nodes} × {type.Name}, {capacity} pods ({options.UnderlayPerNode} underlay per node, shared for the rest), lab '{_layout.Prefix}'");
        var leaks = new List<string>();
        var unreachable = new List<string>();
        try
        {
            // Inside the try: a lab up that fails half-way is taken down too.
            var stopwatch = Stopwatch.StartNew();
            Fathomctl("lab", "up", "--nodes", $"{options.Nodes}", "--instance-type", type.Name);
            _figures["labUpSeconds"] = stopwatch.Elapsed.TotalSeconds;
            var state = LabCommands.RequireUp(_layout);
            var nodes = state.Nodes.Select(n => n.Name).ToList();
            var baseline = nodes.ToDictionary(n => n, KernelObjects);
            var pods = Fill(state, nodes, options.CapacityPerNode(type));
            unreachable.AddRange(Reach(pods));
            DeleteAll(pods);
            leaks.AddRange(Leaks(state, nodes, baseline));
        }
        finally
        {
            try
            {
                Fathomctl("lab", "down");
            }
            catch (InvalidOperationException e)
            {
                leaks.Add($"lab down failed: {e.Message}"); // never hides the error that brought us here
            }
            var left = Netns.List().Count(n => n.StartsWith(_layout.Prefix + "-", StringComparison.Ordinal));
            if (left > 0) leaks.Add($"{left} namespace(s) with prefix {_layout.Prefix}- after lab down");
        }
        _figures["unreachable"] = unreachable.Count;
        _figures["leaks"] = leaks.Count;
        foreach (var line in unreachable.Concat(leaks)) Console.WriteLine($"  {line}");
        foreach (var (k, v) in _figures) Console.WriteLine($"  {k,-24} {BenchTarget.Format(v)}");
        return
        [
            BenchTarget.AtLeast($"lab scale: pods networked ({options.Nodes} × {type.Name} filled)", _figures["pods"], capacity),
            BenchTarget.AtMost("lab scale: pods unreachable", unreachable.Count, 0),
            BenchTarget.AtMost("lab scale: leaks after deleting every pod", leaks.Count, 0),
        ];
    }

    private List<BenchTarget> RunSimulation(InstanceTypeLimits type, Dictionary<string, double> figures)
    {
        Console.WriteLine($"fathomctl bench scale: {options.Agents} simulated agents ({type.Name}) × {options.PodsPerAgent} pods from empty, against the lab's EC2 API with account limits (a token bucket per action)");
        foreach (var (k, v) in new BenchScaleSimulation(options.Agents, options.PodsPerAgent, type.Name).RunAsync(CancellationToken.None).GetAwaiter().GetResult())
            figures[k] = v;
        foreach (var (k, v) in figures) Console.WriteLine($"  {k,-24} {BenchTarget.Format(v)}");
        var wanted = (double)options.Agents * options.PodsPerAgent;
        return
        [
            BenchTarget.AtLeast($"simulated agents: pods networked ({options.Agents} agents × {options.PodsPerAgent})", figures["pods"], wanted),
            BenchTarget.AtLeast("simulated agents: agents done (none starved)", figures["agentsDone"], options.Agents),
        ];
    }

    /// <summary>Every node filled at once (one thread per node, as kubelets would): underlay first, then shared until the agent says the node is full (CNI 11).</summary>
    private List<LabPod> Fill(LabState state, List<string> nodes, int perNode)
    {
        var plugin = CniPods.ResolvePlugin();
        var pods = new ConcurrentBag<LabPod>();
        var latencies = new ConcurrentBag<double>();
        var stopwatch = Stopwatch.StartNew();
        var progress = new Timer(_ => Console.WriteLine($"  {pods.Count,5} pods networked  {stopwatch.Elapsed.TotalSeconds,6:0.0} s"), null, 5000, 5000);
        var refusals = new ConcurrentBag<string>();
        Parallel.ForEach(nodes, new ParallelOptions { MaxDegreeOfParallelism = nodes.Count }, node =>
        {
            for (var i = 0; i < perNode; i++)
            {
                var mode = i < options.UnderlayPerNode ? "underlay" : "shared";
                var started = Stopwatch.GetTimestamp();
                try
                {
                    pods.Add(CniPods.Add(_layout, state, $"{node}-{i}", node, mode, null, plugin));
                    latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                catch (CniPluginException e)
                {
                    refusals.Add($"{node}: pod {i + 1} of {perNode} refused: CNI {e.Code}: {e.Msg}");
                    break;
                }
            }
        });
        progress.Dispose();
        _figures["pods"] = pods.Count;
        _figures["secondsToNetworkAll"] = stopwatch.Elapsed.TotalSeconds;
        _figures["podsPerSecond"] = pods.Count / stopwatch.Elapsed.TotalSeconds;
        _figures["addP50Ms"] = BenchScratch.Percentile(latencies, 0.5);
        _figures["addP99Ms"] = BenchScratch.Percentile(latencies, 0.99);
        Console.WriteLine($"  {pods.Count} pods networked in {stopwatch.Elapsed.TotalSeconds:0.0} s");
        foreach (var r in refusals) Console.WriteLine($"  {r}");
        return [.. pods.OrderBy(p => p.Name, StringComparer.Ordinal)];
    }

    /// <summary>Every pod from one probe pod, then a random sample of pairs; the failures, each as a line.</summary>
    private List<string> Reach(List<LabPod> pods)
    {
        if (pods.Count < 2) return [];
        var stopwatch = Stopwatch.StartNew();
        var probe = pods[0];
        var failures = new List<string>();
        foreach (var batch in pods.Skip(1).Chunk(64))
            failures.AddRange(Ping(probe, batch));
        var random = new Random(12);
        var pairs = Enumerable.Range(0, options.Pairs).Select(_ => (pods[random.Next(pods.Count)], pods[random.Next(pods.Count)]))
            .Where(p => p.Item1 != p.Item2).ToList();
        Parallel.ForEach(pairs.Chunk(8), new ParallelOptions { MaxDegreeOfParallelism = 2 }, chunk =>
        {
            foreach (var (from, to) in chunk)
            {
                var lines = Ping(from, [to]);
                lock (failures) failures.AddRange(lines);
            }
        });
        _figures["probed"] = pods.Count - 1;
        _figures["pairsChecked"] = pairs.Count;
        _figures["reachSeconds"] = stopwatch.Elapsed.TotalSeconds;
        Console.WriteLine($"  reachability: {pods.Count - 1} pods from {probe.Name}, {pairs.Count} sampled pairs, {failures.Count} unreachable ({stopwatch.Elapsed.TotalSeconds:0.0} s)");
        return failures;
    }

    /// <summary>Pings <paramref name="targets"/> from <paramref name="from"/>'s netns, in parallel, one shell; a line per target that did not answer.</summary>
    private static IEnumerable<string> Ping(LabPod from, LabPod[] targets)
    {
        var script = string.Join(" ", targets.Select(t => $"(ping -c 2 -i 0.2 -W 2 -q {t.Ip} >/dev/null 2>&1 || echo {t.Name}) &")) + " wait";
        var (_, output) = BenchDataplaneProbes.Exec("ip", ["netns", "exec", from.Netns, "sh", "-c", script], check: false);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(name => $"unreachable: {name} from {from.Name}");
    }

    private void DeleteAll(List<LabPod> pods)
    {
        var stopwatch = Stopwatch.StartNew();
        Parallel.ForEach(pods.GroupBy(p => p.Node), new ParallelOptions { MaxDegreeOfParallelism = options.Nodes }, group =>
        {
            foreach (var pod in group) PodNetworking.Delete(_layout, pod.Name);
        });
        _figures["secondsToDeleteAll"] = stopwatch.Elapsed.TotalSeconds;
        Console.WriteLine($"  {pods.Count} pods deleted in {stopwatch.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>
    /// What deleting every pod left behind, once each agent's background teardown is done (up to a
    /// minute): allocations, veths and policy rules beyond what the node had before the first pod,
    /// ENIs attached in the cloud that the node's agent does not manage.
    /// </summary>
    private List<string> Leaks(LabState state, List<string> nodes, Dictionary<string, (HashSet<string> Veths, HashSet<string> Rules)> baseline)
    {
        var leaks = new List<string>();
        foreach (var node in nodes)
        {
            var client = new AgentClient(_layout.AgentSocket(node), TimeSpan.FromSeconds(10));
            var deadline = Stopwatch.StartNew();
            var status = client.Status();
            while ((status.Allocations.Count > 0 || status.PendingTeardowns > 0) && deadline.Elapsed < TimeSpan.FromSeconds(60))
            {
                Thread.Sleep(500);
                status = client.Status();
            }
            if (status.Allocations.Count > 0) leaks.Add($"{node}: {status.Allocations.Count} allocation(s) left in the agent");
            if (status.PendingTeardowns > 0) leaks.Add($"{node}: {status.PendingTeardowns} teardown(s) still pending");
            var now = KernelObjects(node);
            foreach (var veth in now.Veths.Except(baseline[node].Veths)) leaks.Add($"{node}: veth {veth} left");
            foreach (var rule in now.Rules.Except(baseline[node].Rules)) leaks.Add($"{node}: rule \"{rule}\" left");
            var known = status.Enis.Select(e => e.EniId).ToHashSet(StringComparer.Ordinal);
            var instance = state.RequireNode(node).InstanceId;
            using var ec2 = LabEc2Client.Create(state);
            var attached = ec2.DescribeNetworkInterfacesAsync(new Amazon.EC2.Model.DescribeNetworkInterfacesRequest
            {
                Filters = [new Amazon.EC2.Model.Filter("attachment.instance-id", [instance])],
            }).GetAwaiter().GetResult().NetworkInterfaces;
            foreach (var eni in attached.Where(e => e.Attachment?.DeviceIndex != 0 && !known.Contains(e.NetworkInterfaceId)))
                leaks.Add($"{node}: {eni.NetworkInterfaceId} attached in the cloud, unknown to the agent");
        }
        return leaks;
    }

    /// <summary>The node's veths (but ENIs) and policy rules: what pods add.</summary>
    private (HashSet<string> Veths, HashSet<string> Rules) KernelObjects(string node)
    {
        var netns = LabCommands.RequireUp(_layout).RequireNode(node).Netns;
        var links = BenchDataplaneProbes.Exec("ip", ["-n", netns, "-br", "link", "show", "type", "veth"]).Output;
        var rules = BenchDataplaneProbes.Exec("ip", ["-n", netns, "rule", "show"]).Output;
        static HashSet<string> Lines(string text, Func<string, string> key) =>
            [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(key)];
        // The lab's ENIs are veths too (eth1, eth2 …, attached as the agent's pool grows): the cloud check covers them.
        var veths = Lines(links, l => l.Split(' ')[0].Split('@')[0]);
        veths.RemoveWhere(name => name.StartsWith("eth", StringComparison.Ordinal) && name[3..].All(char.IsAsciiDigit));
        return (veths, Lines(rules, l => l));
    }

    private void Fathomctl(params string[] args) => FathomctlChild.Run(_layout.Prefix, args);

    private void WriteJson(string path, InstanceTypeLimits type, Dictionary<string, double> simulation, List<BenchTarget> targets)
    {
        using var file = File.Create(path);
        using var json = new Utf8JsonWriter(file, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("bench", "scale");
        if (options.Lab)
        {
            json.WriteStartObject("lab");
            json.WriteNumber("nodes", options.Nodes);
            json.WriteString("instanceType", type.Name);
            json.WriteNumber("underlayPerNode", options.UnderlayPerNode);
            foreach (var (k, v) in _figures) BenchTarget.WriteNumber(json, k, v);
            json.WriteEndObject();
        }
        if (simulation.Count > 0)
        {
            json.WriteStartObject("simulation");
            json.WriteString("instanceType", type.Name);
            json.WriteNumber("podsPerAgent", options.PodsPerAgent);
            foreach (var (k, v) in simulation) BenchTarget.WriteNumber(json, k, v);
            json.WriteEndObject();
        }
        BenchTarget.Write(json, targets);
        json.WriteEndObject();
    }
}
