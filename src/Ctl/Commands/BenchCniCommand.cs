using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl bench cni [--cycles N] [--plugin PATH] [--reference PATH] [--agent-cycles N] [--concurrency N,N]
/// [--rounds N] [--churn-seconds S] [--allocations N] [--attach-latency MS] [--lab-prefix P] [--no-agent-modes | --memory-only] [--json FILE]</c>:
/// first the named device — full ADD+DEL cycles of the <c>fathom</c> plugin (underlay mode, a named
/// device) and of the reference <c>host-device</c> plugin, same static IPAM, interleaved cycle by
/// cycle, and process start (VERSION) of both (issue 3 §5); then the agent modes in a lab of the
/// bench's own (issue 9 §10, <see cref="BenchCniAgentModes"/>). docs/benchmarks.md, section CNI.
/// </summary>
/// <remarks>
/// Each plugin runs as a runtime runs it: a new process with the CNI_* environment and the
/// config on stdin. The processes are started from a thread inside a temporary "host"
/// namespace (a forked child inherits the namespace of the thread that forks), so nothing
/// touches the root namespace and no <c>ip netns exec</c> or <c>nsenter</c> is timed. Each
/// plugin has its own veth end to hand out and its own temporary pod namespace; all of them,
/// and the lab, are deleted at the end, also on failure or Ctrl-C.
/// </remarks>
internal static class BenchCniCommand
{
    private const string ReferenceDir = BenchCniExec.ReferenceDir;
    private const string SpecVersion = "1.0.0"; // the newest version Debian's host-device (1.1.1) speaks
    private const int WarmupCycles = 5;
    private const int VersionRuns = 200;

    /// <summary>The lab the agent modes bring up and take down when no --lab-prefix is given.</summary>
    internal const string DefaultLabPrefix = "fcnibench";

    private sealed record Contender(string Name, string Plugin, string Type, string Device, string PodNetns, string DataDir)
    {
        public List<double> Add { get; } = [];
        public List<double> Del { get; } = [];
        public List<double> Cycle { get; } = [];
        public List<double> Version { get; } = [];

        public byte[] Config => Encoding.UTF8.GetBytes(
            $$$"""
            {"cniVersion":"{{{SpecVersion}}}","name":"fathom-bench","type":"{{{Type}}}","mode":"underlay","device":"{{{Device}}}","dataDir":"{{{DataDir}}}",
             "ipam":{"type":"static","addresses":[{"address":"198.18.0.2/24","gateway":"198.18.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}}
            """);
    }

    internal static readonly Option<int> Cycles = NumberOptions.Count("--cycles", "How many measured ADD+DEL cycles per plugin with a named device (fathom against host-device).", 50);

    internal static readonly Option<string> Plugin = new("--plugin")
    {
        Description = "The fathom plugin to run (default: fathom beside fathomctl).",
        HelpName = "PATH",
    };

    internal static readonly Option<string> Reference = new("--reference")
    {
        Description = $"The reference plugin to compare with (default: {ReferenceDir}/host-device); bridge and host-local are taken from its folder.",
        HelpName = "PATH",
    };

    internal static readonly Option<int> AgentCycles = NumberOptions.Count("--agent-cycles", "How many sequential ADD+DEL cycles of each agent mode (and of bridge+host-local, and bare moves).", 30);

    internal static readonly Option<int[]> Concurrency = new("--concurrency")
    {
        Description = "The concurrency levels, comma-separated: how many ADDs (and bare moves) at once in each level's rounds (1 is the sequential loop's; the targets read the highest).",
        HelpName = "N,N",
        DefaultValueFactory = _ => [8, 32],
        CustomParser = ConcurrencyLevels,
    };

    internal static readonly Option<int> ChurnSeconds = NumberOptions.Integer("--churn-seconds", "Seconds of sustained churn: shared pods' ADD+DEL cycles by 8 workers, counted per second, with their errors (0: none).", 5);

    internal static readonly Option<int> Rounds = NumberOptions.Count("--rounds", "How many concurrent rounds.", 2);

    internal static readonly Option<int> Allocations = NumberOptions.Count("--allocations", "How many allocations the memory node's agent holds when its VmRSS is read (at most 735 on an m5.24xlarge).", 700);

    internal static readonly Option<int> AttachLatency = NumberOptions.Integer("--attach-latency", "The lab's AttachNetworkInterface latency in ms (the cold pool's first pod waits for it).", 500);

    internal static readonly Option<string> LabPrefix = new("--lab-prefix")
    {
        Description = $"The prefix of the lab the agent modes bring up and take down (default: {DefaultLabPrefix}); it must not exist.",
        HelpName = "P",
        DefaultValueFactory = _ => DefaultLabPrefix,
    };

    internal static readonly Option<bool> NoAgentModes = new("--no-agent-modes") { Description = "Only the named-device comparison with host-device: no lab, no agent." };

    internal static readonly Option<bool> MemoryOnly = new("--memory-only")
    {
        Description = "Only the agents' resident memory (idle, and holding --allocations): no named device, no latencies, a lab of the nodes it needs.",
    };

    internal static readonly Option<string> PluginLog = new("--plugin-log")
    {
        Description = "Have the measured sequential ADDs and DELs of the agent modes log to FILE (the network config's logFile, emptied first) " +
                      "and print the median of each of their steps. The log's own write adds to those figures: quote the ones of a run without it.",
        HelpName = "FILE",
    };

    internal static readonly Option<string> Json = new("--json")
    {
        Description = "Also write every figure (median, p99 of its samples) and every target (name, value, limit, met) to FILE as JSON.",
        HelpName = "FILE",
    };

    public static Command Create()
    {
        var command = new Command("cni", "fathom against the reference plugins: a named device against host-device, interleaved, and process start (VERSION); " +
                                         "then the agent modes (underlay, shared, host-gw, overlay) in a lab of its own against bare netns moves and bridge+host-local, with their targets.")
        {
            Cycles, Plugin, Reference, AgentCycles, Concurrency, Rounds, ChurnSeconds, Allocations, AttachLatency, LabPrefix, NoAgentModes, MemoryOnly, PluginLog,
            Json,
        };
        command.SetAction(parse => Run(parse.GetValue(Cycles), PluginPath(parse), ReferencePath(parse), AgentOptions(parse), parse.GetValue(Json)));
        return command;
    }

    internal static string PluginPath(ParseResult parse) =>
        Path.GetFullPath(parse.GetValue(Plugin) ?? Path.Combine(AppContext.BaseDirectory, "fathom"));

    internal static string ReferencePath(ParseResult parse) =>
        Path.GetFullPath(parse.GetValue(Reference) ?? Path.Combine(ReferenceDir, "host-device"));

    /// <summary>"8,32" → [8, 32]: each a whole number of at least 1, at most 256.</summary>
    private static int[] ConcurrencyLevels(System.CommandLine.Parsing.ArgumentResult result)
    {
        if (result.Tokens.Count == 0) return [8, 32];
        var text = result.Tokens[^1].Value;
        var levels = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 256)
            {
                result.AddError($"--concurrency wants levels from 1 to 256, comma-separated (e.g. 8,32), not '{text}'");
                return [8, 32];
            }
            levels.Add(n);
        }
        return [.. levels.Distinct().Order()];
    }

    /// <summary>The agent modes' options, or null with --no-agent-modes.</summary>
    internal static BenchCniAgentOptions? AgentOptions(ParseResult parse)
    {
        if (parse.GetValue(NoAgentModes))
            return parse.GetValue(MemoryOnly) ? throw new UsageException("--memory-only measures the agents: not with --no-agent-modes")
                : parse.GetValue(PluginLog) is not null ? throw new UsageException("--plugin-log logs the agent modes' cycles: not with --no-agent-modes")
                : null;
        var allocations = parse.GetValue(Allocations);
        if (allocations > 735) throw new UsageException($"--allocations: {allocations} is more than an m5.24xlarge holds (15 ENIs × 49 secondary IPs = 735)");
        if (parse.GetValue(AttachLatency) is < 0 or > 60_000) throw new UsageException("--attach-latency wants milliseconds, 0..60000");
        if (parse.GetValue(ChurnSeconds) is < 0 or > 3600) throw new UsageException("--churn-seconds wants seconds, 0..3600");
        var pluginLog = parse.GetValue(PluginLog) is { } log ? Path.GetFullPath(log) : null;
        // Refused now, not after the named-device part has run.
        if (pluginLog is not null && !Directory.Exists(Path.GetDirectoryName(pluginLog)))
            throw new UsageException($"--plugin-log: there is no folder {Path.GetDirectoryName(pluginLog)} to write {Path.GetFileName(pluginLog)} in");
        return new BenchCniAgentOptions(parse.GetValue(AgentCycles), parse.GetRequiredValue(Concurrency), parse.GetValue(Rounds), allocations,
            parse.GetValue(AttachLatency), parse.GetRequiredValue(LabPrefix), parse.GetValue(ChurnSeconds), parse.GetValue(MemoryOnly), pluginLog);
    }

    private static int Run(int cycles, string plugin, string reference, BenchCniAgentOptions? agentModes, string? json)
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("needs root: it creates namespaces and veth pairs and runs plugins in them (sudo fathomctl bench cni)");
        if (!File.Exists(plugin))
            throw new InvalidOperationException($"fathom plugin not found at {plugin}: run ./build.sh, or pass --plugin PATH");
        if (!File.Exists(reference))
            throw new InvalidOperationException($"reference plugin not found at {reference}: install containernetworking-plugins (scripts/prereqs.sh)");
        var bridge = Path.Combine(Path.GetDirectoryName(reference)!, "bridge");
        if (agentModes is not null) RequireAgentModes(agentModes, bridge);
        using var scratch = new BenchScratch();
        var results = new BenchCniResults();
        results.Note("started", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        results.Note("kernel", File.ReadAllText("/proc/sys/kernel/osrelease").Trim());
        results.Note("cpus", Environment.ProcessorCount);
        results.Note("loadAverageAtStart", File.ReadAllText("/proc/loadavg").Trim());
        // fathom's attachment records (written and fsynced on every ADD, as in production) go to a
        // scratch folder on the same disk, removed afterwards.
        var records = scratch.CreateDirectory("-records");
        var fathom = new Contender("fathom", plugin, "fathom", "bench-f", scratch.NameFor("-pod-f"), records);
        var hostDevice = new Contender("host-device", reference, "host-device", "bench-r", scratch.NameFor("-pod-r"), records);
        using var host = scratch.CreateNetns("-host");
        if (agentModes is { MemoryOnly: true }) return AgentMemoryOnly(agentModes, plugin, bridge, host, scratch, results, json);
        scratch.CreateNetns("-pod-f").Dispose();
        scratch.CreateNetns("-pod-r").Dispose();
        using (var links = NetlinkHandle.OpenIn(host))
        {
            // The devices to hand out: veth ends whose peers stay in the host namespace.
            links.CreateVeth(fathom.Device, fathom.Device + "p");
            links.CreateVeth(hostDevice.Device, hostDevice.Device + "p");
        }

        Console.WriteLine($"fathomctl bench cni: {cycles} ADD+DEL cycles each, interleaved; static IPAM; spec {SpecVersion}");
        Console.WriteLine($"  fathom      {plugin}");
        Console.WriteLine($"  host-device {reference}");
        Netns.Run(host, () =>
        {
            try
            {
                Measure(fathom, hostDevice, cycles, scratch);
            }
            catch (InvalidOperationException) when (scratch.InterruptedJustNow())
            {
                // Ctrl-C reaches the plugin running in the foreground too (same process group),
                // which then fails: the interrupt, not a failure of the plugin.
            }
        });
        if (scratch.Interrupted)
        {
            // Ctrl-C: report what was measured, as bench netlink does, rather than throw it away.
            var measured = Math.Min(fathom.Cycle.Count, hostDevice.Cycle.Count);
            Console.Error.WriteLine($"fathomctl bench cni: interrupted after {measured} of {cycles} cycles and {Math.Min(fathom.Version.Count, hostDevice.Version.Count)} of {VersionRuns} VERSION runs");
            if (fathom.Cycle.Count > 0 && hostDevice.Cycle.Count > 0) Report(fathom, hostDevice, results);
            if (json is not null) results.WriteJson(json);
            return 130;
        }
        Report(fathom, hostDevice, results);
        if (agentModes is not null) RunAgentModes(agentModes, cycles, plugin, bridge, host, scratch, results);
        if (json is not null) results.WriteJson(json);
        if (!scratch.Interrupted) return 0;
        Console.Error.WriteLine("fathomctl bench cni: interrupted in the agent modes; the lab is down");
        return 130;
    }

    /// <summary>--memory-only: no named device, only the agents' resident memory in the bench's lab (docs/benchmarks.md, Agent memory).</summary>
    private static int AgentMemoryOnly(BenchCniAgentOptions agentModes, string plugin, string bridge, NetnsHandle host, BenchScratch scratch,
        BenchCniResults results, string? json)
    {
        RunAgentModes(agentModes, 0, plugin, bridge, host, scratch, results);
        if (json is not null) results.WriteJson(json);
        if (!scratch.Interrupted) return 0;
        Console.Error.WriteLine("fathomctl bench cni: interrupted; the lab is down");
        return 130;
    }

    /// <summary>What the agent modes need, checked before anything is made; each miss says where it looked.</summary>
    private static void RequireAgentModes(BenchCniAgentOptions agentModes, string bridge)
    {
        foreach (var needed in new[] { bridge, Path.Combine(ReferenceDir, "host-local") })
            if (!File.Exists(needed))
                throw new InvalidOperationException($"reference plugin not found at {needed}: install containernetworking-plugins (scripts/prereqs.sh)");
        Fathom.Lab.Control.AgentCommand.Resolve();
        if (!Fathom.Lab.LabLayout.IsValidPrefix(agentModes.LabPrefix))
            throw new UsageException($"--lab-prefix: '{agentModes.LabPrefix}' is not a lab prefix (1-16 chars of [a-z0-9], starting with a letter; not fathom or ftest)");
    }

    /// <summary>The agent modes in their own lab, then their targets and table; an interrupt keeps what was measured.</summary>
    private static void RunAgentModes(BenchCniAgentOptions agentModes, int cycles, string plugin, string bridge, NetnsHandle host,
        BenchScratch scratch, BenchCniResults results)
    {
        var modes = new BenchCniAgentModes(agentModes, plugin, bridge, scratch, results);
        // Emptied first: the table below reads only this run's lines.
        if (agentModes.PluginLog is { } log) File.WriteAllBytes(log, []);
        try
        {
            modes.Run(host);
        }
        catch (Exception) when (scratch.InterruptedJustNow())
        {
            // As in the named-device part: the interrupt, not a failure — Ctrl-C reaches the
            // plugins and the agents too (one process group), so whatever was running fails.
        }
        modes.Targets();
        results.Note("options", new System.Text.Json.Nodes.JsonObject
        {
            ["cycles"] = cycles, ["agentCycles"] = agentModes.Cycles, ["concurrency"] = agentModes.Concurrency.Max(),
            ["concurrencyLevels"] = new System.Text.Json.Nodes.JsonArray([.. agentModes.Concurrency.Select(c => (System.Text.Json.Nodes.JsonNode)c)]),
            ["rounds"] = agentModes.Rounds, ["allocations"] = agentModes.Allocations, ["attachLatencyMs"] = agentModes.AttachLatencyMs,
            ["churnSeconds"] = agentModes.ChurnSeconds,
        });
        results.Note("loadAverageAtEnd", File.ReadAllText("/proc/loadavg").Trim());
        results.Print(Console.Out);
        if (agentModes.PluginLog is { } pluginLog) BenchCniSteps.Print(Console.Out, pluginLog);
    }

    /// <summary>Warm-up, then the measured cycles, then the VERSION runs; stops early on Ctrl-C, keeping what it measured.</summary>
    private static void Measure(Contender fathom, Contender hostDevice, int cycles, BenchScratch scratch)
    {
        for (var i = 0; i < WarmupCycles && !scratch.Interrupted; i++)
        {
            Cycle(fathom, record: false);
            Cycle(hostDevice, record: false);
        }
        for (var i = 0; i < cycles && !scratch.Interrupted; i++)
        {
            // Alternate who goes first, so neither always runs on a cache the other warmed.
            var (first, second) = i % 2 == 0 ? (fathom, hostDevice) : (hostDevice, fathom);
            Cycle(first, record: true);
            Cycle(second, record: true);
        }
        var versionConfig = Encoding.UTF8.GetBytes($$"""{"cniVersion":"{{SpecVersion}}"}""");
        for (var i = 0; i < VersionRuns && !scratch.Interrupted; i++)
        {
            fathom.Version.Add(Exec(fathom, "VERSION", versionConfig));
            hostDevice.Version.Add(Exec(hostDevice, "VERSION", versionConfig));
        }
    }

    /// <summary>One ADD then DEL through one plugin; times in milliseconds.</summary>
    private static void Cycle(Contender c, bool record)
    {
        var config = c.Config;
        var add = Exec(c, "ADD", config);
        var del = Exec(c, "DEL", config);
        if (!record) return;
        c.Add.Add(add);
        c.Del.Add(del);
        c.Cycle.Add(add + del);
    }

    private static double Exec(Contender c, string command, byte[] config) =>
        BenchCniExec.Run(c.Plugin, c.Name, command, "fathom-bench", Path.Combine(Netns.RunDirectory, c.PodNetns), config);

    private static void Report(Contender fathom, Contender reference, BenchCniResults results)
    {
        foreach (var (c, prefix) in new[] { (fathom, "named device: fathom"), (reference, "named device: host-device") })
        {
            results.Figure(prefix + " ADD").AddRange(c.Add);
            results.Figure(prefix + " DEL").AddRange(c.Del);
            results.Figure(prefix + " ADD+DEL").AddRange(c.Cycle);
            results.Figure(prefix + " VERSION").AddRange(c.Version);
        }
        Console.WriteLine();
        Console.WriteLine($"{"",-10}{"fathom median",15}{"p99",9}{"host-device median",21}{"p99",9}{"ratio (median)",17}");
        Row("ADD", fathom.Add, reference.Add);
        Row("DEL", fathom.Del, reference.Del);
        Row("ADD+DEL", fathom.Cycle, reference.Cycle);
        Row("VERSION", fathom.Version, reference.Version);
        Console.WriteLine("(milliseconds; ratio = fathom / host-device)");

        var cycleRatio = BenchScratch.Percentile(fathom.Cycle, 0.50) / BenchScratch.Percentile(reference.Cycle, 0.50);
        var startRatio = BenchScratch.Percentile(fathom.Version, 0.50) / BenchScratch.Percentile(reference.Version, 0.50);
        Console.WriteLine();
        Console.WriteLine($"target: ADD+DEL cycle ≤ 1/4 of host-device: ratio {F(cycleRatio)} → {Verdict(cycleRatio, cycleRatio <= 0.25)}");
        results.AtMost("named device: ADD+DEL <= 0.25 x host-device", cycleRatio, 0.25, "ratio", "median of fathom's cycle / host-device's");
        results.AtMost("named device: VERSION <= 1 x host-device", startRatio, 1, "ratio", "median of fathom's VERSION / host-device's");
        Console.WriteLine($"target: faster start (VERSION) than host-device: ratio {F(startRatio)} → {Verdict(startRatio, startRatio < 1)}");
    }

    private static void Row(string what, List<double> fathom, List<double> reference) =>
        Console.WriteLine($"{what,-10}{F(BenchScratch.Percentile(fathom, 0.50)),15}{F(BenchScratch.Percentile(fathom, 0.99)),9}" +
                          $"{F(BenchScratch.Percentile(reference, 0.50)),21}{F(BenchScratch.Percentile(reference, 0.99)),9}" +
                          $"{F(BenchScratch.Percentile(fathom, 0.50) / BenchScratch.Percentile(reference, 0.50)),17}");

    /// <summary>Two decimals; "-" for a figure with no samples behind it (an interrupted run that never got there).</summary>
    private static string F(double value) => double.IsNaN(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Verdict(double ratio, bool met) => double.IsNaN(ratio) ? "not measured" : met ? "met" : "NOT met";
}
