using System.Diagnostics;
using System.Text.Json;
using Fathom.Netlink;

namespace Fathom.Lab.Cri;

/// <summary>
/// One containerd (Debian's 1.6, with its CRI plugin) running inside a lab node, as it runs on an
/// EKS node: its network namespace is the node's, so the CNI plugins it runs (and the pods' netns it
/// makes) see the node's ENIs. What was found to work on this machine (issue 11 §1):
/// <list type="bullet">
/// <item><c>nsenter --net=</c>, not <c>ip netns exec</c>, which remounts /sys and hides the cgroup
/// mounts from runc;</item>
/// <item>a private mount namespace (<c>unshare -m</c>) with its own /run/containerd (containerd 1.6
/// puts shim sockets in /run/containerd/s whatever its state dir) and its own /var/lib/cni, both
/// folders of the scratch directory bound there; /run/netns stays shared with the host, so the pods' netns containerd makes
/// (/run/netns/cni-…) are seen by the node's agent, as on a real node;</item>
/// <item>cgroupfs cgroups under a cgroup parent of the lab's own, removed on <see cref="Stop"/>.</item>
/// </list>
/// </summary>
public sealed class ContainerdNode
{
    /// <summary>The cgroup hierarchies (cgroup v1 controllers, or the v2 root) the sandboxes' cgroups are under.</summary>
    private const string CgroupRoot = "/sys/fs/cgroup";

    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    /// <summary>How long <see cref="Stop"/> gives one node's sandboxes' Stop and Remove, all together.</summary>
    public static readonly TimeSpan SandboxRemovalBudget = TimeSpan.FromSeconds(20);

    /// <param name="paths">The scratch directory.</param>
    /// <param name="nodeNetns">The node's netns name (in /run/netns).</param>
    /// <param name="cgroupParent">The sandboxes' cgroup parent (cgroupfs syntax, e.g. <c>/flab-node1</c>).</param>
    public ContainerdNode(ContainerdPaths paths, string nodeNetns, string cgroupParent)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (!cgroupParent.StartsWith('/') || cgroupParent.Length < 2 || cgroupParent.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException($"cgroup parent '{cgroupParent}' is not an absolute cgroup path of its own", nameof(cgroupParent));
        Paths = paths;
        NodeNetns = nodeNetns;
        CgroupParent = cgroupParent;
    }

    /// <summary>The scratch directory.</summary>
    public ContainerdPaths Paths { get; }
    /// <summary>The node's netns.</summary>
    public string NodeNetns { get; }
    /// <summary>The sandboxes' cgroup parent, given in every RunPodSandbox.</summary>
    public string CgroupParent { get; }

    /// <summary>Where the containerd binary is (Debian's package).</summary>
    public static string? FindContainerd() => new[] { "/usr/bin/containerd", "/usr/local/bin/containerd" }.FirstOrDefault(File.Exists);

    /// <summary>
    /// Writes the config (one runtime handler per mode, its conflist from <paramref name="conflists"/>),
    /// links <paramref name="plugin"/> and the loopback plugin into the CNI bin dir and the pause image,
    /// then starts containerd (detached: its own session) and waits until its CRI answers and the pause
    /// image is imported. Returns containerd's pid.
    /// </summary>
    /// <param name="plugin">The installed <c>fathom</c> binary.</param>
    /// <param name="conflists">The conflist of each mode (runtime handler), the default's first.</param>
    /// <param name="timeout">How long containerd may take to answer.</param>
    /// <exception cref="InvalidOperationException">containerd is missing, exited, or did not answer; the message has its log's tail.</exception>
    public int Start(string plugin, IReadOnlyList<(string Mode, string Conflist)> conflists, TimeSpan timeout)
    {
        var containerd = FindContainerd() ?? throw new InvalidOperationException("containerd is not installed (apt-get install containerd)");
        Prepare(plugin, conflists);
        var psi = new ProcessStartInfo("setsid") { UseShellExecute = false };
        // setsid → unshare → sh → nsenter → containerd, each exec'ing the next: one pid, containerd's.
        foreach (var a in new[] { "unshare", "--mount", "--propagation", "unchanged", "/bin/sh", "-c", StartScript, "containerd",
                     Paths.RunContainerd, Paths.VarLibCni, Path.Combine(Netns.RunDirectory, NodeNetns), containerd, Paths.Config, Paths.Log })
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start containerd");
        File.WriteAllText(Paths.PidFile, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var watch = Stopwatch.StartNew();
        while (!Answers())
        {
            if (process.HasExited)
                throw new InvalidOperationException($"containerd in {NodeNetns} exited ({process.ExitCode}); {Paths.Log} ends:\n{Tail(Paths.Log)}");
            if (watch.Elapsed > timeout)
                throw new InvalidOperationException($"containerd in {NodeNetns} does not answer on {Paths.Socket} after {timeout.TotalSeconds:0} s; {Paths.Log} ends:\n{Tail(Paths.Log)}");
            Thread.Sleep(50);
        }
        ImportPauseImage();
        return process.Id;
    }

    // $1 /run/containerd's stand-in, $2 /var/lib/cni's, $3 the node's netns path, $4 containerd, $5 its config, $6 its log.
    // /run/containerd is a folder of the scratch directory, not a tmpfs: the shims' sockets in it
    // outlive a containerd that dies, so the one started again reconnects to its sandboxes.
    // Each mount point's mount made private first (non-recursive), so nothing mounted here reaches
    // the host even where its parent mount is shared; /run/netns keeps its sharing.
    private const string StartScript = """
        set -e
        mkdir -p /run/containerd /var/lib/cni
        for d in /run/containerd /var/lib/cni; do mount --make-private "$(findmnt -n -o TARGET -T "$d")"; done
        mount --bind "$1" /run/containerd
        mount --bind "$2" /var/lib/cni
        exec nsenter --net="$3" "$4" --config "$5" </dev/null >>"$6" 2>&1
        """;

    private void Prepare(string plugin, IReadOnlyList<(string Mode, string Conflist)> conflists)
    {
        foreach (var d in new[] { Paths.Directory, Paths.Root, Paths.State, Paths.RuncRoot, Paths.CniBin, Paths.VarLibCni, Paths.RunContainerd })
            Directory.CreateDirectory(d);
        foreach (var (mode, conflist) in conflists)
        {
            Directory.CreateDirectory(Paths.CniConf(mode));
            AtomicFile.Write(Path.Combine(Paths.CniConf(mode), $"10-fathom-{mode}.conflist"), System.Text.Encoding.UTF8.GetBytes(conflist));
        }
        Link(Path.Combine(Paths.CniBin, "fathom"), Path.GetFullPath(plugin));
        // containerd 1.6 brings up the sandbox's lo through the loopback plugin of its bin dir.
        var loopback = new[] { "/usr/lib/cni/loopback", "/opt/cni/bin/loopback" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("the loopback CNI plugin is missing (apt-get install containernetworking-plugins)");
        Link(Path.Combine(Paths.CniBin, "loopback"), loopback);
        File.WriteAllText(Paths.Config, ContainerdConfig.Render(Paths, [.. conflists.Select(c => c.Mode)]));
        PauseImage.Write(Paths.PauseImageTar);
    }

    private static void Link(string link, string target)
    {
        File.Delete(link);
        File.CreateSymbolicLink(link, target);
    }

    private void ImportPauseImage()
    {
        var psi = new ProcessStartInfo("ctr") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--address", Paths.Socket, "-n", "k8s.io", "images", "import", "--all-platforms", Paths.PauseImageTar })
            psi.ArgumentList.Add(a);
        using var ctr = Process.Start(psi) ?? throw new InvalidOperationException("cannot start ctr");
        var output = ctr.StandardOutput.ReadToEndAsync();
        var errors = ctr.StandardError.ReadToEnd();
        if (!ctr.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            ctr.Kill();
            throw new InvalidOperationException("ctr images import did not finish within 60 s");
        }
        if (ctr.ExitCode != 0)
            throw new InvalidOperationException($"ctr images import of the pause image failed ({ctr.ExitCode}): {(output.Result + errors).Trim()}");
    }

    /// <summary>Whether containerd accepts connections on its socket.</summary>
    public bool Answers()
    {
        if (!File.Exists(Paths.Socket)) return false;
        try
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            socket.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(Paths.Socket));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>containerd's pid from its pid file, if it still runs.</summary>
    public int? RunningPid()
    {
        try
        {
            return int.TryParse(File.ReadAllText(Paths.PidFile), out var pid) && Signal.IsAlive(pid) && IsContainerd(pid) ? pid : null;
        }
        catch (IOException) { return null; }
    }

    private bool IsContainerd(int pid) => Signal.CommandLine(pid) is [var exe, .., var config] && exe.EndsWith("containerd", StringComparison.Ordinal) && config == Paths.Config;

    /// <summary>
    /// Stops containerd and everything it left, also after a crash. First, while containerd answers,
    /// its sandboxes as a kubelet would stop them (<see cref="RemoveSandboxes"/>): containerd runs the
    /// CNI DELs and deletes their netns itself. Then containerd (SIGTERM, then SIGKILL), its shims
    /// (found by their <c>-address</c>), the sandboxes' processes (by the cgroup parent), the pods'
    /// netns they held, and as a last resort the netns its sandboxes reported that are still there
    /// (containerd 1.6 keeps a sandbox's netns while its DEL fails, and a killed containerd deletes
    /// nothing); the cgroups; then deletes the scratch directory. Idempotent. Returns what it found
    /// still running, for the log.
    /// </summary>
    public IReadOnlyList<string> Stop()
    {
        var sandboxes = RunningPid() is not null && Answers() ? RemoveSandboxes(SandboxRemovalBudget) : [];
        var stopped = new List<string>();
        if (RunningPid() is { } pid)
        {
            Signal.Send(pid, Signal.SIGTERM);
            if (!WaitGone(pid, StopGrace)) Signal.Send(pid, Signal.SIGKILL);
            WaitGone(pid, StopGrace);
            stopped.Add($"containerd {pid}");
        }
        var podNetns = new HashSet<ulong>();
        foreach (var sandbox in CgroupProcesses())
        {
            if (NetnsInode(sandbox) is { } inode) podNetns.Add(inode);
            Signal.Send(sandbox, Signal.SIGKILL);
            stopped.Add($"sandbox process {sandbox}");
        }
        foreach (var shim in Shims())
        {
            Signal.Send(shim, Signal.SIGKILL);
            stopped.Add($"shim {shim}");
        }
        foreach (var p in stopped.Select(s => int.Parse(s[(s.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture)))
            WaitGone(p, StopGrace);
        foreach (var name in PodNetnsOf(podNetns))
        {
            Netns.TryDelete(name);
            stopped.Add($"netns {name}");
        }
        foreach (var name in ReportedNetnsLeft())
        {
            if (Netns.TryDelete(name)) stopped.Add($"netns {name} (its sandbox's, which containerd kept)");
        }
        RemoveCgroups();
        if (Directory.Exists(Paths.Directory)) Directory.Delete(Paths.Directory, recursive: true);
        return [.. sandboxes, .. stopped];
    }

    /// <summary>
    /// What a kubelet does with the pods of a node it drains, for every sandbox this containerd knows:
    /// ListPodSandbox, then StopPodSandbox (containerd runs the CNI DEL with the netns, then deletes
    /// the netns) and RemovePodSandbox (the second DEL) of each, ready or not — a sandbox whose start
    /// failed is kept, not ready, when its clean-up DEL failed too (containerd 1.6 RunPodSandbox), and
    /// only these calls make containerd run its DEL again. Each sandbox's netns path (verbose
    /// PodSandboxStatus) is recorded first, for <see cref="Stop"/>'s last resort. Within
    /// <paramref name="budget"/> for all of them; a call that fails is reported, never thrown: the
    /// caller goes on stopping. Returns what it did and what failed, for the log.
    /// </summary>
    public IReadOnlyList<string> RemoveSandboxes(TimeSpan budget)
    {
        // A blocking caller (lab down, node rm) on a thread without a synchronization context.
        return Task.Run(() => RemoveSandboxesAsync(budget)).GetAwaiter().GetResult();
    }

    private async Task<IReadOnlyList<string>> RemoveSandboxesAsync(TimeSpan budget)
    {
        var done = new List<string>();
        using var deadline = new CancellationTokenSource(budget);
        using var cri = new CriClient(Paths.Socket, budget);
        IReadOnlyList<CriSandbox> sandboxes;
        try
        {
            sandboxes = await cri.ListPodSandboxAsync(cancellationToken: deadline.Token);
        }
        catch (Exception e) when (e is CriException or OperationCanceledException or IOException)
        {
            return [$"sandboxes: cannot list them ({e.Message})"];
        }
        foreach (var sandbox in sandboxes)
        {
            var what = $"sandbox {sandbox.Namespace}/{sandbox.Name} {sandbox.Id[..Math.Min(12, sandbox.Id.Length)]}";
            try
            {
                if (await cri.PodSandboxNetnsAsync(sandbox.Id, deadline.Token) is { } netns) RecordNetns(netns);
            }
            catch (Exception e) when (e is CriException or OperationCanceledException or IOException or JsonException)
            {
                done.Add($"{what}: no netns path ({e.Message})");
            }
            try
            {
                await cri.StopPodSandboxAsync(sandbox.Id, deadline.Token);
                await cri.RemovePodSandboxAsync(sandbox.Id, deadline.Token);
                done.Add($"{what} (stopped and removed)");
            }
            catch (Exception e) when (e is CriException or OperationCanceledException or IOException or JsonException)
            {
                done.Add($"{what}: {e.Message}");
            }
        }
        return done;
    }

    private void RecordNetns(string path)
    {
        if (!Directory.Exists(Paths.Directory)) return;
        var known = SafeLines(Paths.SandboxNetnsFile);
        if (!known.Contains(path)) File.AppendAllLines(Paths.SandboxNetnsFile, [path]);
    }

    /// <summary>
    /// The recorded netns still in /run/netns: only names containerd made (<c>cni-…</c>) under
    /// /run/netns (containerd reports /var/run/netns, the same folder), never another path.
    /// </summary>
    private IEnumerable<string> ReportedNetnsLeft()
    {
        foreach (var path in SafeLines(Paths.SandboxNetnsFile))
        {
            var name = Path.GetFileName(path);
            var folder = Path.GetDirectoryName(path);
            if (name.StartsWith("cni-", StringComparison.Ordinal) && folder is "/run/netns" or "/var/run/netns" && Netns.Exists(name))
                yield return name;
        }
    }

    // Every process in a cgroup under the parent, in any hierarchy.
    private IEnumerable<int> CgroupProcesses()
    {
        var pids = new HashSet<int>();
        foreach (var dir in CgroupDirectories())
            foreach (var procs in Directory.EnumerateFiles(dir, "cgroup.procs", SearchOption.AllDirectories))
                foreach (var line in SafeLines(procs))
                    if (int.TryParse(line, out var p)) pids.Add(p);
        return pids;
    }

    private IEnumerable<string> CgroupDirectories()
    {
        if (!Directory.Exists(CgroupRoot)) yield break;
        var own = Path.Combine(CgroupRoot, CgroupParent.TrimStart('/'));
        if (Directory.Exists(own)) yield return own;
        foreach (var hierarchy in Directory.EnumerateDirectories(CgroupRoot))
        {
            var dir = Path.Combine(hierarchy, CgroupParent.TrimStart('/'));
            if (Directory.Exists(dir)) yield return dir;
        }
    }

    // Deepest first: a cgroup goes only once its children are gone (rmdir, never a recursive delete).
    private void RemoveCgroups()
    {
        foreach (var dir in CgroupDirectories().ToList())
        {
            foreach (var child in Directory.EnumerateDirectories(dir, "*", SearchOption.AllDirectories).OrderByDescending(d => d.Length).Append(dir))
            {
                try { Directory.Delete(child); }
                catch (IOException) { }
            }
        }
    }

    private IEnumerable<int> Shims()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var p)) continue;
            var argv = Signal.CommandLine(p);
            if (argv.Count > 0 && argv[0].EndsWith("containerd-shim-runc-v2", StringComparison.Ordinal) && argv.Contains(Paths.Socket))
                yield return p;
        }
    }

    private static IEnumerable<string> PodNetnsOf(IReadOnlySet<ulong> inodes)
    {
        if (inodes.Count == 0 || !Directory.Exists(Netns.RunDirectory)) yield break;
        foreach (var file in Directory.EnumerateFiles(Netns.RunDirectory, "cni-*"))
        {
            ulong? inode = null;
            try { using var ns = Netns.Open(file); inode = ns.Inode; }
            catch (NetlinkException) { }
            if (inode is { } i && inodes.Contains(i)) yield return Path.GetFileName(file);
        }
    }

    private static ulong? NetnsInode(int pid)
    {
        try
        {
            var target = new FileInfo($"/proc/{pid}/ns/net").LinkTarget;
            return target is not null && target.StartsWith("net:[", StringComparison.Ordinal) && ulong.TryParse(target.AsSpan(5, target.Length - 6), out var inode) ? inode : null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    private static IEnumerable<string> SafeLines(string path)
    {
        try { return File.ReadAllLines(path); }
        catch (IOException) { return []; }
    }

    private static bool WaitGone(int pid, TimeSpan timeout)
    {
        var watch = Stopwatch.StartNew();
        while (Signal.IsAlive(pid))
        {
            if (watch.Elapsed > timeout) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    private static string Tail(string path)
    {
        try { return string.Join('\n', File.ReadAllLines(path).TakeLast(15)); }
        catch (IOException) { return "(no log)"; }
    }
}
