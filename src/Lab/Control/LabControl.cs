using System.Diagnostics;
using System.Security.Cryptography;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>How to start the lab server (<c>fathomctl lab serve</c>): a program and the arguments before "lab serve".</summary>
/// <param name="FileName">The executable (fathomctl, or dotnet).</param>
/// <param name="LeadingArguments">E.g. the fathomctl.dll path when run through the dotnet host.</param>
public sealed record ServerCommand(string FileName, IReadOnlyList<string> LeadingArguments)
{
    /// <summary>The command line of the server for <paramref name="layout"/>.</summary>
    public IReadOnlyList<string> Arguments(LabLayout layout) => [.. LeadingArguments, "lab", "serve", "--prefix", layout.Prefix];

    /// <summary>Whether argv is a lab server for this prefix (how <c>down</c> recognizes ours before killing).</summary>
    public static bool IsServerFor(IReadOnlyList<string> argv, LabLayout layout)
    {
        for (var i = 0; i + 3 < argv.Count; i++)
            if (argv[i] == "lab" && argv[i + 1] == "serve" && argv[i + 2] == "--prefix" && argv[i + 3] == layout.Prefix)
                return true;
        return false;
    }
}

/// <summary>What <c>lab up</c> did.</summary>
public enum UpOutcome
{
    /// <summary>There was no lab: it was built.</summary>
    Created,
    /// <summary>The lab was up and healthy: nothing was done.</summary>
    AlreadyUp,
    /// <summary>The lab was half up (or left over): taken down and rebuilt.</summary>
    Repaired,
}

/// <summary>
/// The lab's lifecycle, shared by <c>fathomctl lab</c> and the tests: <c>up</c> records the
/// options and starts one detached server process (<see cref="LabServer"/>) that builds the
/// VPC and serves EC2, IMDS and DHCP; <c>down</c> removes everything from the prefix and the
/// recorded pids alone, so it works after the server was SIGKILLed.
/// </summary>
public static class LabControl
{
    /// <summary>How long <c>up</c> waits for the server to report ready.</summary>
    public static TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>How long <c>down</c> lets a live server stop by itself (SIGTERM) before SIGKILL.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    /// <summary>Brings the lab up, or reports it is already up; a half-up lab is taken down and rebuilt.</summary>
    public static (UpOutcome Outcome, LabState State) Up(LabLayout layout, LabOptions options, ServerCommand server, Action<string>? log = null)
    {
        options.Validate();
        log ??= _ => { };
        using var exclusive = LabLock.Acquire(layout, StartTimeout + StopGrace + TimeSpan.FromSeconds(30));
        var existing = LabStateStore.TryLoad(layout);
        if (existing is not null && IsHealthy(layout, existing))
            return (UpOutcome.AlreadyUp, existing);
        var repaired = existing is not null || Directory.Exists(layout.StateDirectory) || Netns.List().Any(layout.Owns);
        if (repaired)
        {
            log($"lab '{layout.Prefix}' is half up: taking it down first");
            DownLocked(layout);
        }

        Directory.CreateDirectory(layout.StateDirectory);
        File.SetUnixFileMode(layout.StateDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        PodNetworking.WriteDhcpClientFiles(layout);
        LabStateStore.Save(layout, new LabState
        {
            Prefix = layout.Prefix,
            Options = options,
            Phase = LabPhase.Starting,
            Credentials = NewCredentials(),
            Observer = NewCredentials(),
        });
        var pid = StartServer(layout, server);
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var state = LabStateStore.TryLoad(layout);
            if (state?.Phase == LabPhase.Ready) return (repaired ? UpOutcome.Repaired : UpOutcome.Created, state);
            if (state?.Phase == LabPhase.Failed || !Signal.IsAlive(pid) || deadline.Elapsed > StartTimeout)
            {
                var why = state?.Error ?? (Signal.IsAlive(pid) ? $"not ready after {StartTimeout.TotalSeconds:0} s" : "the lab server exited");
                var tail = LogTail(layout);
                DownLocked(layout);
                throw new InvalidOperationException($"lab up failed: {why}{(tail.Length > 0 ? "\n--- server.log ---\n" + tail : "")}");
            }
            Thread.Sleep(100);
        }
    }

    /// <summary>Up means: ready, the server alive and ours, every namespace present.</summary>
    public static bool IsHealthy(LabLayout layout, LabState state) =>
        state.Phase == LabPhase.Ready &&
        state.ServerPid > 0 && Signal.IsAlive(state.ServerPid) &&
        ServerCommand.IsServerFor(Signal.CommandLine(state.ServerPid), layout) &&
        Netns.Exists(state.VpcNetns) && state.Nodes.All(n => Netns.Exists(n.Netns));

    /// <summary>
    /// Starts the server detached from the caller: its own session (setsid, so a terminal's
    /// SIGHUP or the test host's exit does not reach it), stdio on server.log. Returns its pid
    /// (sh execs setsid, which execs the server: one pid throughout).
    /// </summary>
    private static int StartServer(LabLayout layout, ServerCommand server)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec setsid \"$0\" \"$@\" </dev/null >>\"$FATHOM_LAB_LOG\" 2>&1");
        psi.ArgumentList.Add(server.FileName);
        foreach (var arg in server.Arguments(layout)) psi.ArgumentList.Add(arg);
        psi.Environment["FATHOM_LAB_LOG"] = layout.ServerLog;
        psi.Environment[LabLayout.PrefixVariable] = layout.Prefix;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the lab server");
        return process.Id;
    }

    /// <summary>
    /// Removes everything the lab made: its processes (only ours: each pid's command line is
    /// checked; a live server gets SIGTERM and a grace period, the rest SIGKILL), every process
    /// still inside one of its namespaces, every netns with its prefix, and the state
    /// directory. Safe to run any time, any number of times.
    /// </summary>
    /// <returns>What was removed, for the operator.</returns>
    public static IReadOnlyList<string> Down(LabLayout layout)
    {
        using var exclusive = LabLock.Acquire(layout, StartTimeout + StopGrace + TimeSpan.FromSeconds(30));
        return DownLocked(layout);
    }

    private static IReadOnlyList<string> DownLocked(LabLayout layout)
    {
        var removed = new List<string>();
        var state = LabStateStore.TryLoad(layout);

        // 0. The pods of the nodes' containerd, as a kubelet drains a node: StopPodSandbox and
        //    RemovePodSandbox of each while the agents still run, so the CNI DELs succeed and
        //    containerd deletes each pod's netns itself (a killed containerd deletes none, and keeps
        //    the netns of a sandbox whose DEL failed). Bounded; what fails is cleaned up in 1b.
        removed.AddRange(LabContainerd.RemoveSandboxesAll(layout, state));

        // 1. The server must be gone before anything is deleted (it would re-plug ENIs). A live
        //    one is asked to stop first: it then kills and reaps its dnsmasq children itself,
        //    instead of leaving them to be orphaned by a SIGKILL. Whatever of ours is still
        //    there after the grace period (a hung or starting server, orphaned dnsmasq after a
        //    crash) is found again — verified again, since a pid may have been reused — and killed.
        var servers = FindOurProcesses(layout, state).Where(p => p.IsServer).Select(p => p.Pid).ToList();
        foreach (var pid in servers)
            if (Signal.Send(pid, Signal.SIGTERM)) removed.Add($"process {pid}");
        foreach (var pid in servers) WaitGone(pid, StopGrace);
        foreach (var (pid, _) in FindOurProcesses(layout, state))
        {
            Signal.Send(pid, Signal.SIGKILL);
            WaitGone(pid, TimeSpan.FromSeconds(2));
            if (!servers.Contains(pid)) removed.Add($"process {pid}");
        }

        // 1b. The nodes' containerd (lab up --runtime containerd, or a test's): its sandboxes live in
        //    netns and cgroups of their own, which step 2 would not find.
        removed.AddRange(LabContainerd.StopAll(layout, state));

        // 2. Processes left inside the lab's namespaces (dhclient, iperf3, agents) keep a
        //    namespace alive after its name is gone: kill them, by netns inode.
        var namespaces = Netns.List().Where(layout.Owns).ToList();
        foreach (var pid in KillProcessesIn(namespaces))
            removed.Add($"process {pid} (in a lab netns)");

        // 3. Namespaces: deleting the VPC netns takes every bridge port with it; pods and nodes follow.
        foreach (var name in namespaces)
            if (Netns.TryDelete(name)) removed.Add($"netns {name}");

        if (Directory.Exists(layout.StateDirectory))
        {
            Directory.Delete(layout.StateDirectory, recursive: true);
            removed.Add($"state {layout.StateDirectory}");
        }
        return removed;
    }

    /// <summary>The server and dnsmasq pids of this lab, from lab.json and a scan of /proc — each verified by its command line; the server first.</summary>
    private static List<(int Pid, bool IsServer)> FindOurProcesses(LabLayout layout, LabState? state)
    {
        var candidates = new List<int>();
        if (state is not null)
        {
            candidates.Add(state.ServerPid);
            candidates.AddRange(state.DnsmasqPids);
        }
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
            if (int.TryParse(Path.GetFileName(dir), out var pid)) candidates.Add(pid);
        var stateMarker = $"--pid-file={layout.StateDirectory}/";
        return [.. candidates.Distinct()
            .Where(pid => pid > 0 && pid != Environment.ProcessId)
            .Select(pid => (pid, argv: Signal.CommandLine(pid)))
            .Select(p => (p.pid, p.argv, IsServer: ServerCommand.IsServerFor(p.argv, layout)))
            .Where(p => p.IsServer ||
                        (p.argv.Count > 0 && p.argv[0].EndsWith("dnsmasq", StringComparison.Ordinal) && p.argv.Any(a => a.StartsWith(stateMarker, StringComparison.Ordinal))))
            .Select(p => (p.pid, p.IsServer))
            .OrderBy(p => p.IsServer ? 0 : 1)];
    }

    /// <summary>
    /// SIGKILLs every process (but this one) inside the named namespaces, found by netns inode,
    /// and waits for each to go; returns their pids. A namespace that is already gone is skipped.
    /// </summary>
    internal static IReadOnlyList<int> KillProcessesIn(IEnumerable<string> namespaces)
    {
        var inodes = new HashSet<ulong>();
        foreach (var name in namespaces)
        {
            try { using var handle = Netns.Open(name); inodes.Add(handle.Inode); }
            catch (NetlinkException) { }
        }
        var killed = new List<int>();
        foreach (var pid in ProcessesInNamespaces(inodes))
        {
            if (pid == Environment.ProcessId) continue;
            Signal.Send(pid, Signal.SIGKILL);
            WaitGone(pid, TimeSpan.FromSeconds(2));
            killed.Add(pid);
        }
        return killed;
    }

    /// <summary>Every process whose network namespace is one of <paramref name="inodes"/> (by /proc/PID/ns/net).</summary>
    private static IEnumerable<int> ProcessesInNamespaces(IReadOnlySet<ulong> inodes)
    {
        if (inodes.Count == 0) yield break;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string? target;
            try { target = new FileInfo($"{dir}/ns/net").LinkTarget; }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            // The link reads "net:[4026532281]".
            if (target is not null && target.StartsWith("net:[", StringComparison.Ordinal) &&
                ulong.TryParse(target.AsSpan(5, target.Length - 6), out var inode) && inodes.Contains(inode))
                yield return pid;
        }
    }

    private static void WaitGone(int pid, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (Signal.IsAlive(pid) && watch.Elapsed < timeout) Thread.Sleep(20);
    }

    private static string LogTail(LabLayout layout)
    {
        try
        {
            var lines = File.ReadAllLines(layout.ServerLog);
            return string.Join('\n', lines.TakeLast(20));
        }
        catch (IOException) { return ""; }
    }

    /// <summary>
    /// Fresh credentials per lab: an AKIA-style id (20 chars) and a 40-char secret, so a
    /// request signed for another lab (or with a guessed key) fails with AuthFailure.
    /// </summary>
    private static LabCredentials NewCredentials()
    {
        const string upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const string secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        return new LabCredentials(
            "AKIA" + RandomNumberGenerator.GetString(upper, 16),
            RandomNumberGenerator.GetString(secret, 40),
            LabLayout.Region);
    }
}
