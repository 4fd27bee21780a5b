using System.Diagnostics;
using System.Net.Sockets;

namespace Fathom.Lab.Control;

/// <summary>
/// How to start <c>fathom-agent</c>: a program and the arguments before <c>--config</c>.
/// </summary>
/// <param name="FileName">The executable (fathom-agent, or dotnet).</param>
/// <param name="LeadingArguments">E.g. the fathom-agent.dll path when run through the dotnet host.</param>
public sealed record AgentCommand(string FileName, IReadOnlyList<string> LeadingArguments)
{
    /// <summary>Environment variable naming the agent to run (an executable, or a fathom-agent.dll).</summary>
    public const string Variable = "FATHOM_AGENT";

    /// <summary>
    /// The agent the lab runs: <c>$FATHOM_AGENT</c>, else the one installed beside this fathomctl
    /// (./build.sh publishes both into artifacts/bin; the tests' output holds both as dlls).
    /// </summary>
    /// <exception cref="InvalidOperationException">None is found; the message says where it looked.</exception>
    public static AgentCommand Resolve()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given)
            return File.Exists(given) ? For(given) : throw new InvalidOperationException($"${Variable} is {given}, which does not exist");
        var dll = Path.Combine(AppContext.BaseDirectory, "fathom-agent.dll");
        var host = Environment.ProcessPath;
        // Run through the dotnet host the way this process runs, when it does: an apphost would
        // have to find the runtime by itself (DOTNET_ROOT), which a test host need not provide.
        if (host is not null && Path.GetFileNameWithoutExtension(host) == "dotnet" && File.Exists(dll))
            return new AgentCommand(host, [dll]);
        var apphost = Path.Combine(AppContext.BaseDirectory, "fathom-agent");
        if (File.Exists(apphost)) return new AgentCommand(apphost, []);
        if (File.Exists(dll)) return For(dll);
        throw new InvalidOperationException(
            $"fathom-agent not found beside {AppContext.BaseDirectory} (run ./build.sh, or set ${Variable}); 'lab up --no-agents' makes a lab without agents");
    }

    private static AgentCommand For(string path) =>
        path.EndsWith(".dll", StringComparison.Ordinal) ? new AgentCommand("dotnet", [path]) : new AgentCommand(path, []);

    /// <summary>The agent's argv for the config at <paramref name="configPath"/>.</summary>
    public IReadOnlyList<string> Arguments(string configPath) => [.. LeadingArguments, "--config", configPath];
}

/// <summary>
/// The lab server as each node's init system: one <c>fathom-agent</c> per node, inside the node's
/// netns (<c>ip netns exec</c>, which execs in place: one pid), restarted when it exits or is killed
/// — after 100 ms, doubling while it keeps dying young, never more than a second (issue 9 §7) —
/// until the supervisor is disposed, which stops them all (SIGTERM, SIGKILL after a grace period).
/// </summary>
public sealed class NodeAgentSupervisor : IAsyncDisposable
{
    private static readonly TimeSpan FirstRestartDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRestartDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(3);

    private readonly LabLayout _layout;
    private readonly AgentCommand _command;
    private readonly Action<string> _log;
    private readonly Action<IReadOnlyList<LabAgent>> _pidsChanged;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (LabNode Node, Process Process)> _running = [];
    // Each node's supervision, cancelled on its own by RemoveAsync (lab node rm) or with the rest by DisposeAsync.
    private readonly Dictionary<string, CancellationTokenSource> _supervising = [];
    private readonly List<Task> _loops = [];

    /// <param name="layout">The lab.</param>
    /// <param name="command">The agent to run.</param>
    /// <param name="log">The server's log.</param>
    /// <param name="pidsChanged">Called with every agent's current pid after each (re)start: the server records them in lab.json.</param>
    public NodeAgentSupervisor(LabLayout layout, AgentCommand command, Action<string> log, Action<IReadOnlyList<LabAgent>> pidsChanged)
    {
        _layout = layout;
        _command = command;
        _log = log;
        _pidsChanged = pidsChanged;
    }

    /// <summary>The agents as they run now, node order.</summary>
    public IReadOnlyList<LabAgent> Agents
    {
        get
        {
            lock (_gate)
                return [.. _running.Values.OrderBy(r => r.Node.Name, StringComparer.Ordinal)
                    .Select(r => new LabAgent(r.Node.Name, r.Process.Id, _layout.AgentSocket(r.Node.Name)))];
        }
    }

    /// <summary>
    /// Writes each node's config, starts its agent and waits until every agent accepts connections
    /// on its socket (so <c>lab up</c> returns with agents that answer).
    /// </summary>
    /// <exception cref="InvalidOperationException">An agent did not come up within <paramref name="timeout"/>; the message has its log's tail.</exception>
    public async Task StartAsync(LabState state, TimeSpan timeout, CancellationToken cancellationToken)
    {
        foreach (var node in state.Nodes) Launch(state, node);
        _pidsChanged(Agents);
        var deadline = Stopwatch.StartNew();
        foreach (var node in state.Nodes) await WaitListeningAsync(node, deadline, timeout, cancellationToken);
    }

    /// <summary>
    /// Starts and supervises the agent of a node added to the running lab (<c>lab node add</c>), and
    /// waits until it listens, as <see cref="StartAsync"/> does for every node at <c>lab up</c>.
    /// </summary>
    /// <exception cref="InvalidOperationException">It did not come up within <paramref name="timeout"/>; the message has its log's tail.</exception>
    public async Task AddAsync(LabState state, LabNode node, TimeSpan timeout, CancellationToken cancellationToken)
    {
        Launch(state, node);
        _pidsChanged(Agents);
        await WaitListeningAsync(node, Stopwatch.StartNew(), timeout, cancellationToken);
    }

    /// <summary>Stops supervising <paramref name="node"/>'s agent and stops it (SIGTERM, SIGKILL after a grace period): <c>lab node rm</c>.</summary>
    public async Task RemoveAsync(string node)
    {
        CancellationTokenSource? supervision;
        Process? process = null;
        lock (_gate)
        {
            _supervising.Remove(node, out supervision);
            if (_running.Remove(node, out var running)) process = running.Process;
        }
        if (supervision is not null) await supervision.CancelAsync();
        if (process is not null) await StopAsync(process);
        _pidsChanged(Agents);
    }

    private void Launch(LabState state, LabNode node)
    {
        var config = NodeAgentConfig.Write(_layout, state, node);
        var supervision = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        lock (_gate) _supervising[node.Name] = supervision;
        StartOne(node, config, supervision.Token);
        var loop = SuperviseAsync(node, config, supervision.Token);
        lock (_gate) _loops.Add(loop);
    }

    private async Task WaitListeningAsync(LabNode node, Stopwatch since, TimeSpan timeout, CancellationToken cancellationToken)
    {
        while (!Answers(_layout.AgentSocket(node.Name)))
        {
            if (since.Elapsed > timeout)
                throw new InvalidOperationException(
                    $"the fathom-agent of {node.Name} does not listen on {_layout.AgentSocket(node.Name)} after {timeout.TotalSeconds:0} s; {_layout.AgentLog(node.Name)} ends:\n{Tail(_layout.AgentLog(node.Name))}");
            await Task.Delay(50, cancellationToken);
        }
    }

    private void StartOne(LabNode node, string configPath, CancellationToken supervision)
    {
        var log = _layout.AgentLog(node.Name);
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        // sh execs ip, which enters the node's netns and execs the agent: the pid is the agent's.
        // Its JSON log lines go to the node's agent.log, appended across restarts.
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec ip netns exec \"$0\" \"$@\" </dev/null >>\"$FATHOM_AGENT_LOG\" 2>&1");
        psi.ArgumentList.Add(node.Netns);
        psi.ArgumentList.Add(_command.FileName);
        foreach (var arg in _command.Arguments(configPath)) psi.ArgumentList.Add(arg);
        psi.Environment["FATHOM_AGENT_LOG"] = log;
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start the fathom-agent of {node.Name}");
        lock (_gate)
        {
            // Removed (lab node rm) while this restart was on its way: the agent must not outlive its node.
            if (supervision.IsCancellationRequested)
            {
                Signal.Send(process.Id, Signal.SIGKILL);
                process.WaitForExit();
                process.Dispose();
                return;
            }
            _running[node.Name] = (node, process);
        }
        _log($"agent {node.Name}: pid {process.Id} in {node.Netns}, socket {_layout.AgentSocket(node.Name)}");
    }

    private async Task SuperviseAsync(LabNode node, string configPath, CancellationToken supervision)
    {
        var delay = FirstRestartDelay;
        while (!supervision.IsCancellationRequested)
        {
            Process process;
            lock (_gate)
            {
                if (!_running.TryGetValue(node.Name, out var running)) return;
                process = running.Process;
            }
            var started = Stopwatch.StartNew();
            try
            {
                await process.WaitForExitAsync(supervision);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            // Out of the table before it is disposed: DisposeAsync must not touch a disposed Process.
            bool ours;
            lock (_gate)
            {
                ours = _running.TryGetValue(node.Name, out var current) && current.Process == process;
                if (ours) _running.Remove(node.Name);
            }
            // Taken out of the table by RemoveAsync or DisposeAsync meanwhile: they stop and dispose it.
            if (!ours) return;
            _log($"agent {node.Name}: pid {process.Id} exited ({Describe(process.ExitCode)}): restarting in {delay.TotalMilliseconds:0} ms");
            process.Dispose();
            // An agent that lived a while gets the shortest delay again; one that keeps dying young backs off, to a second at most.
            delay = started.Elapsed > TimeSpan.FromSeconds(10) ? FirstRestartDelay : delay;
            try
            {
                await Task.Delay(delay, supervision);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRestartDelay.Ticks));
            try
            {
                StartOne(node, configPath, supervision);
                _pidsChanged(Agents);
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
            {
                // Without a process there is nothing to wait for: try again in a second.
                _log($"agent {node.Name}: cannot restart: {e.Message}");
                try
                {
                    await Task.Delay(MaxRestartDelay, supervision);
                    StartOne(node, configPath, supervision);
                    _pidsChanged(Agents);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (Exception again) when (again is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
                {
                    _log($"agent {node.Name}: cannot restart: {again.Message}; giving up");
                    return;
                }
            }
        }
    }

    /// <summary>"exit code N", or the signal that ended it (a shell's 128+N).</summary>
    private static string Describe(int exitCode) => exitCode > 128 ? $"signal {exitCode - 128}" : $"exit code {exitCode}";

    /// <summary>Whether something accepts connections on the Unix socket at <paramref name="path"/>.</summary>
    public static bool Answers(string path)
    {
        if (!File.Exists(path)) return false;
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static string Tail(string path)
    {
        try { return string.Join('\n', File.ReadAllLines(path).TakeLast(10)); }
        catch (IOException) { return "(no log)"; }
    }

    /// <summary>Stops supervising, then stops every agent: SIGTERM, SIGKILL after a grace period.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        List<Task> loops;
        lock (_gate) loops = [.. _loops];
        try { await Task.WhenAll(loops); }
        catch (OperationCanceledException) { }
        List<Process> processes;
        lock (_gate)
        {
            processes = [.. _running.Values.Select(r => r.Process)];
            _running.Clear();
            foreach (var supervision in _supervising.Values) supervision.Dispose();
            _supervising.Clear();
        }
        foreach (var p in processes)
            if (!p.HasExited) Signal.Send(p.Id, Signal.SIGTERM);
        foreach (var p in processes) await StopAsync(p);
        _stop.Dispose();
    }

    // SIGTERM (again, harmless), a grace period, then SIGKILL; reaped and disposed.
    private static async Task StopAsync(Process p)
    {
        if (!p.HasExited) Signal.Send(p.Id, Signal.SIGTERM);
        using (var grace = new CancellationTokenSource(StopGrace))
        {
            try { await p.WaitForExitAsync(grace.Token); }
            catch (OperationCanceledException)
            {
                Signal.Send(p.Id, Signal.SIGKILL);
                await p.WaitForExitAsync();
            }
        }
        p.Dispose();
    }
}
