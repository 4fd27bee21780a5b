using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>
/// The lab of <c>bench cni</c>'s agent modes: a lab of its own (its own prefix), brought up as
/// <c>fathomctl lab up --no-agents --instance-type m5.24xlarge --attach-latency MS</c> does, whose
/// nodes' <c>fathom-agent</c>s the bench starts itself — each with the pool targets its
/// measurement needs, and the cold node's only when its first pod is timed. Dispose stops the
/// agents (by pid) and takes the whole lab down, also after a failure or Ctrl-C.
/// </summary>
internal sealed class BenchCniLab : IDisposable
{
    /// <summary>The instance type of every node: the largest of the lab's table (15 ENIs × 50 addresses).</summary>
    public const string InstanceType = "m5.24xlarge";

    /// <summary>ENIs an m5.24xlarge node can hand out whole (15 attached at most, the primary never).</summary>
    public const int UnderlayEnisPerNode = 14;

    private readonly List<Process> _agents = [];

    private BenchCniLab(LabLayout layout, LabState state)
    {
        Layout = layout;
        State = state;
    }

    public LabLayout Layout { get; }

    public LabState State { get; }

    /// <summary>
    /// Brings up lab <paramref name="prefix"/> with <paramref name="nodes"/> nodes and no agents.
    /// Refuses a prefix that already has a lab (or leftovers of one): the bench takes its lab down
    /// at the end, and must never take down someone else's.
    /// </summary>
    public static BenchCniLab Up(string prefix, int nodes, int attachLatencyMs, Action<string> log)
    {
        if (!LabLayout.IsValidPrefix(prefix))
            throw new UsageException($"--lab-prefix: '{prefix}' is not a lab prefix (1-16 chars of [a-z0-9], starting with a letter; not fathom or ftest)");
        var layout = new LabLayout(prefix);
        if (Directory.Exists(layout.StateDirectory) || Netns.List().Any(layout.Owns))
            throw new InvalidOperationException($"lab '{prefix}' exists: the bench brings up and takes down a lab of its own; pass another --lab-prefix, or 'FATHOM_LAB_PREFIX={prefix} fathomctl lab down' first");
        var options = new LabOptions
        {
            Nodes = nodes,
            InstanceType = InstanceType,
            Faults = attachLatencyMs > 0 ? $"attach-latency={attachLatencyMs.ToString(CultureInfo.InvariantCulture)}ms" : null,
            Agents = false,
        };
        try
        {
            var (_, state) = LabControl.Up(layout, options, LabCommands.ServerCommandOfThisProcess(), log);
            return new BenchCniLab(layout, state);
        }
        catch
        {
            LabControl.Down(layout);
            throw;
        }
    }

    /// <summary>The lab's node <paramref name="i"/> (1-based).</summary>
    public LabNode Node(int i) => State.Nodes[i - 1];

    /// <summary>The node agent's socket.</summary>
    public string Socket(LabNode node) => Layout.AgentSocket(node.Name);

    /// <summary>
    /// Starts the node's agent with the lab's config for it (NodeAgentConfig) and the bench's pool
    /// targets; returns its process (its pid is the agent's: sh and ip exec in place).
    /// </summary>
    public Process StartAgent(LabNode node, int warmEnis, int warmIps, int minimumIps)
    {
        var config = NodeAgentConfig.Build(Layout, State, node);
        // A freed IP is reused at once, so cycle after cycle is served from the same warm pool
        // (the cooldown guards against a remote node's stale conntrack, not the ADD's latency).
        config["ipCooldownSeconds"] = 0;
        var pools = config["pools"]!.AsObject();
        pools["warmEnis"] = warmEnis;
        pools["warmIps"] = warmIps;
        pools["minimumIps"] = minimumIps;
        pools["parallelAttaches"] = 16;
        var path = Layout.AgentConfigFile(node.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, config.ToJsonString());
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        var agent = AgentCommand.Resolve();
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec ip netns exec \"$0\" \"$@\" </dev/null >>\"$FATHOM_AGENT_LOG\" 2>&1");
        psi.ArgumentList.Add(node.Netns);
        psi.ArgumentList.Add(agent.FileName);
        foreach (var a in agent.Arguments(path)) psi.ArgumentList.Add(a);
        psi.Environment["FATHOM_AGENT_LOG"] = Layout.AgentLog(node.Name);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start the fathom-agent of {node.Name}");
        _agents.Add(process);
        return process;
    }

    /// <summary>
    /// Waits until the agent answers and <paramref name="ready"/> holds for its status; throws
    /// with the agent log's tail after <paramref name="timeout"/> or when the agent died.
    /// </summary>
    public AgentStatus WaitFor(LabNode node, Process agent, Func<AgentStatus, bool> ready, TimeSpan timeout, string what, BenchScratch scratch)
    {
        var client = new AgentClient(Socket(node), TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (agent.HasExited)
                throw new InvalidOperationException($"the fathom-agent of {node.Name} exited ({agent.ExitCode}) before {what}\n{AgentLogTail(node)}");
            if (File.Exists(client.SocketPath))
            {
                try
                {
                    var status = client.Status();
                    if (ready(status)) return status;
                }
                catch (AgentException)
                {
                    // Not listening yet.
                }
            }
            if (scratch.Interrupted) throw new OperationCanceledException();
            if (clock.Elapsed > timeout)
                throw new InvalidOperationException($"the fathom-agent of {node.Name}: no {what} after {timeout.TotalSeconds:0} s\n{AgentLogTail(node)}");
            Thread.Sleep(5);
        }
    }

    /// <summary>The pool of <paramref name="mode"/> in a status (zeros when the agent has none).</summary>
    public static PoolStatus Pool(AgentStatus status, AllocationMode mode) =>
        status.Pools.FirstOrDefault(p => p.Mode == mode) ?? new PoolStatus { Mode = mode };

    /// <summary>
    /// The CPU a process has used so far, user + system, in ms, from /proc/PID/stat (proc(5): utime and
    /// stime, fields 14 and 15, in clock ticks of 10 ms here — a coarse figure); NaN when it is gone.
    /// </summary>
    public static double CpuMs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks * 1000.0 / ClockTicksPerSecond;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    // sysconf(_SC_CLK_TCK): 100 on every Linux that Fathom runs on (USER_HZ is fixed in the ABI).
    private const int ClockTicksPerSecond = 100;

    /// <summary>
    /// A resident-set figure of a process in MiB from /proc/PID/status (proc(5)): VmRSS, or its parts
    /// RssAnon (heap, stacks), RssFile (mapped files: the runtime, the assemblies), RssShmem; NaN when it is gone.
    /// </summary>
    public static double ResidentMiB(int pid, string field = "VmRSS")
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status"))
                if (line.StartsWith(field + ":", StringComparison.Ordinal))
                    return double.Parse(line.AsSpan(field.Length + 1).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) / 1024;
        }
        catch (IOException)
        {
        }
        return double.NaN;
    }

    private string AgentLogTail(LabNode node)
    {
        var log = Layout.AgentLog(node.Name);
        return File.Exists(log) ? "--- agent.log ---\n" + string.Join('\n', File.ReadLines(log).TakeLast(15)) : "(no agent log)";
    }

    /// <summary>The lab's figures for the JSON's context.</summary>
    public JsonObject Describe() => new()
    {
        ["prefix"] = Layout.Prefix,
        ["nodes"] = State.Nodes.Count,
        ["instanceType"] = InstanceType,
        ["faults"] = State.Options.Faults,
    };

    public void Dispose()
    {
        foreach (var agent in _agents)
        {
            try
            {
                // SIGKILL: the agent is built to survive a crash at any point, and the lab goes next.
                if (!agent.HasExited) agent.Kill();
                agent.WaitForExit();
            }
            catch (InvalidOperationException)
            {
                // Already reaped.
            }
            agent.Dispose();
        }
        LabControl.Down(Layout);
    }
}
