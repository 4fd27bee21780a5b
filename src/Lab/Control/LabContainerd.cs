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
    /// Stops every node's containerd and what it left (shims, sandbox processes, their netns,
    /// cgroups), found from the node folders — also after the server was killed. Returns what it stopped.
    /// </summary>
    public static IReadOnlyList<string> StopAll(LabLayout layout, LabState? state)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var stopped = new List<string>();
        if (!Directory.Exists(layout.StateDirectory)) return stopped;
        foreach (var nodeDirectory in Directory.EnumerateDirectories(layout.StateDirectory))
        {
            var node = Path.GetFileName(nodeDirectory);
            if (!Directory.Exists(Paths(layout, node).Directory)) continue;
            var netns = state?.Nodes.FirstOrDefault(n => n.Name == node)?.Netns ?? node;
            stopped.AddRange(new ContainerdNode(Paths(layout, node), netns, $"/{layout.Prefix}-{node}").Stop().Select(s => $"{s} (containerd of {node})"));
        }
        return stopped;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
