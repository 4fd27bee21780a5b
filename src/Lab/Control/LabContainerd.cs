using System.Text.Json;
using Fathom.Lab.Cri;

namespace Fathom.Lab.Control;

/// <summary>
/// <c>lab up --runtime containerd</c>: a containerd with its CRI plugin in every node, as on an EKS
/// node, whose CNI config is the installed <c>fathom</c> plugin — one runtime handler per mode
/// (<c>underlay</c>, <c>shared</c>; the default handler is shared), each with that mode's conflist
/// as <see cref="CniPods"/> writes it. A client drives it over the CRI as the kubelet does.
/// </summary>
public static class LabContainerd
{
    /// <summary>The runtime <c>lab up --runtime</c> knows (besides none).</summary>
    public const string Runtime = "containerd";

    /// <summary>
    /// The conflists' version: containerd 1.6's libcni (1.1) knows results up to CNI 1.0.0 and refuses a
    /// 1.1.0 result ("unsupported CNI result version"); the plugin answers in the config's version.
    /// </summary>
    public const string CniVersion = "1.0.0";

    /// <summary>How long containerd may take to answer on its socket.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The modes (runtime handlers) of the lab's containerd; the first is the default handler's.</summary>
    public static readonly IReadOnlyList<string> Modes = ["shared", "underlay"];

    /// <summary>Node <paramref name="node"/>'s containerd: its scratch directory, netns and cgroup parent (<c>/PREFIX-NODE</c>).</summary>
    public static ContainerdNode For(LabLayout layout, LabNode node)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(node);
        return new ContainerdNode(Paths(layout, node.Name), node.Netns, $"/{layout.Prefix}-{node.Name}");
    }

    /// <summary>The scratch directory of node <paramref name="node"/>'s containerd.</summary>
    public static ContainerdPaths Paths(LabLayout layout, string node) => new(Path.Combine(layout.NodeDirectory(node), "containerd"));

    /// <summary>The CRI socket of node <paramref name="node"/>'s containerd.</summary>
    public static string Socket(LabLayout layout, string node) => Paths(layout, node).Socket;

    /// <summary>Starts node <paramref name="node"/>'s containerd with <paramref name="plugin"/> as <c>fathom</c>; returns its pid.</summary>
    public static int Start(LabLayout layout, LabNode node, string plugin)
    {
        var conflists = Modes.Select(mode =>
        {
            var conflist = CniPods.Conflist(layout, node.Name, mode, device: null);
            conflist["cniVersion"] = CniVersion;
            return (mode, conflist.ToJsonString(Indented));
        }).ToList();
        return For(layout, node).Start(plugin, conflists, StartTimeout);
    }

    /// <summary>
    /// Every node's running containerd's sandboxes stopped and removed as a kubelet would
    /// (<see cref="ContainerdNode.RemoveSandboxes"/>): <c>lab down</c> does it while the agents still
    /// run, so the CNI DELs succeed and containerd deletes the pods' netns itself. Returns what it did.
    /// </summary>
    public static IReadOnlyList<string> RemoveSandboxesAll(LabLayout layout, LabState? state)
    {
        var removed = new List<string>();
        foreach (var (node, containerd) in Nodes(layout, state))
            if (containerd.RunningPid() is not null && containerd.Answers())
                removed.AddRange(containerd.RemoveSandboxes(ContainerdNode.SandboxRemovalBudget).Select(s => $"{s} (containerd of {node})"));
        return removed;
    }

    /// <summary>
    /// Stops every node's containerd and what it left (sandboxes, shims, sandbox processes, their
    /// netns, cgroups), found from the node folders — also after the server was killed. Returns what it stopped.
    /// </summary>
    public static IReadOnlyList<string> StopAll(LabLayout layout, LabState? state)
    {
        var stopped = new List<string>();
        foreach (var (node, containerd) in Nodes(layout, state))
            stopped.AddRange(containerd.Stop().Select(s => $"{s} (containerd of {node})"));
        return stopped;
    }

    /// <summary>Each node folder's containerd (one whose scratch directory exists), with the node's netns from the state when known.</summary>
    private static List<(string Node, ContainerdNode Containerd)> Nodes(LabLayout layout, LabState? state)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (!Directory.Exists(layout.StateDirectory)) return [];
        var nodes = new List<(string, ContainerdNode)>();
        foreach (var nodeDirectory in Directory.EnumerateDirectories(layout.StateDirectory))
        {
            var node = Path.GetFileName(nodeDirectory);
            if (!Directory.Exists(Paths(layout, node).Directory)) continue;
            var netns = state?.Nodes.FirstOrDefault(n => n.Name == node)?.Netns ?? node;
            nodes.Add((node, new ContainerdNode(Paths(layout, node), netns, $"/{layout.Prefix}-{node}")));
        }
        return nodes;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}

/// <summary>
/// The lab server as the nodes' init system for containerd (as for the agents): starts one per
/// node, starts one again when it dies (containerd recovers its sandboxes from its state), and on
/// dispose stops them all — their sandboxes first, through the CRI, while the agents still run —
/// with what they left (<see cref="LabContainerd.StopAll"/>).
/// </summary>
public sealed class ContainerdSupervisor : IAsyncDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly LabLayout _layout;
    private readonly LabState _state;
    private readonly Lock _gate = new();
    private readonly List<LabNode> _nodes;
    private readonly string _plugin;
    private readonly Action<string> _log;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;

    private ContainerdSupervisor(LabLayout layout, LabState state, string plugin, Action<string> log)
    {
        _layout = layout;
        _state = state;
        _nodes = [.. state.Nodes];
        _plugin = plugin;
        _log = log;
    }

    /// <summary>Starts every node's containerd (waiting until each answers and has the pause image), then watches them.</summary>
    public static ContainerdSupervisor Start(LabLayout layout, LabState state, string plugin, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(log);
        var supervisor = new ContainerdSupervisor(layout, state, plugin, log);
        foreach (var node in state.Nodes)
            log($"containerd {node.Name}: pid {LabContainerd.Start(layout, node, plugin)} in {node.Netns}, CRI at {LabContainerd.Socket(layout, node.Name)}");
        supervisor._loop = supervisor.WatchAsync();
        return supervisor;
    }

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { await Task.Delay(CheckInterval, _stop.Token); }
            catch (OperationCanceledException) { return; }
            List<LabNode> nodes;
            lock (_gate) nodes = [.. _nodes];
            foreach (var node in nodes)
            {
                if (_stop.IsCancellationRequested) return;
                if (LabContainerd.For(_layout, node).RunningPid() is not null) continue;
                try
                {
                    _log($"containerd {node.Name}: not running: restarting");
                    _log($"containerd {node.Name}: pid {LabContainerd.Start(_layout, node, _plugin)}");
                }
                catch (Exception e) when (e is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
                {
                    _log($"containerd {node.Name}: cannot restart: {e.Message}");
                }
            }
        }
    }

    /// <summary>Starts the containerd of a node added to the running lab (<c>lab node add</c>) and watches it too; returns its pid.</summary>
    public int Add(LabNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var pid = LabContainerd.Start(_layout, node, _plugin);
        lock (_gate) _nodes.Add(node);
        _log($"containerd {node.Name}: pid {pid} in {node.Netns}, CRI at {LabContainerd.Socket(_layout, node.Name)}");
        return pid;
    }

    /// <summary>
    /// Stops watching node <paramref name="node"/>'s containerd and stops it (<c>lab node rm</c>): its
    /// sandboxes are stopped and removed through the CRI first, while the node's agent still runs.
    /// </summary>
    public void Remove(string node)
    {
        LabNode? removed;
        lock (_gate)
        {
            removed = _nodes.FirstOrDefault(n => n.Name == node);
            if (removed is not null) _nodes.Remove(removed);
        }
        if (removed is null) return;
        foreach (var line in LabContainerd.For(_layout, removed).Stop()) _log($"stopped {line} (containerd of {node})");
    }

    /// <summary>Stops watching, then stops every node's containerd and its sandboxes.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        List<LabNode> nodes;
        lock (_gate) nodes = [.. _nodes];
        foreach (var line in LabContainerd.StopAll(_layout, _state with { Nodes = nodes })) _log($"stopped {line}");
        _stop.Dispose();
    }
}
