using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Lab.Cri;

namespace Fathom.Lab.Control;

/// <summary>A pod sandbox the lab started through a node's containerd, as <c>lab sandbox run</c> records it.</summary>
/// <param name="Name">The pod's name (metadata.name).</param>
/// <param name="Namespace">Its Kubernetes namespace.</param>
/// <param name="Uid">Its UID.</param>
/// <param name="Node">The node whose containerd runs it.</param>
/// <param name="Mode">The runtime handler (the mode's conflist).</param>
/// <param name="SandboxId">containerd's sandbox ID (CNI_CONTAINERID).</param>
/// <param name="Ip">The IP PodSandboxStatus reports.</param>
public sealed record LabSandbox(string Name, string Namespace, string Uid, string Node, string Mode, string SandboxId, string Ip);

/// <summary>
/// <c>lab sandbox run|rm|ls</c>: pod sandboxes made through a node's containerd over the CRI, as the
/// kubelet makes them (<c>lab up --runtime containerd</c>). Each is recorded in the node's containerd
/// folder (gone with it) so <c>rm</c> needs only its name.
/// </summary>
public static class LabSandboxes
{
    /// <summary>The deadline of each CRI call (the kubelet's default runtime-request-timeout is 2 minutes).</summary>
    public static readonly TimeSpan CriTimeout = TimeSpan.FromMinutes(2);

    /// <summary>RunPodSandbox of <paramref name="name"/> on <paramref name="node"/> in <paramref name="mode"/>; records and returns it.</summary>
    /// <exception cref="InvalidOperationException">The lab runs no containerd, or the sandbox exists.</exception>
    /// <exception cref="CriException">containerd refused (e.g. the CNI ADD failed: its message says why).</exception>
    public static async Task<LabSandbox> RunAsync(LabLayout layout, LabState state, string name, string node, string mode, string k8sNamespace, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(state);
        PodNetworking.RequireValidName(name);
        PodNetworking.RequireValidName(k8sNamespace);
        if (!LabContainerd.Modes.Contains(mode)) throw new ArgumentException($"--mode: '{mode}' is not one of {string.Join(", ", LabContainerd.Modes)}");
        var labNode = state.RequireNode(node);
        RequireContainerd(layout, state, node);
        if (Find(layout, state, name) is { } existing)
            throw new InvalidOperationException($"sandbox '{name}' exists on {existing.Node} ({existing.SandboxId[..12]}); 'lab sandbox rm {name}' first");

        var spec = new CriPodSpec(k8sNamespace, name, Guid.NewGuid().ToString(), LabContainerd.For(layout, labNode).CgroupParent, mode);
        using var cri = new CriClient(LabContainerd.Socket(layout, node), CriTimeout);
        var id = await cri.RunPodSandboxAsync(spec, cancellationToken);
        var status = await cri.PodSandboxStatusAsync(id, cancellationToken);
        var sandbox = new LabSandbox(name, k8sNamespace, spec.Uid, node, mode, id, status.Ip);
        var file = RecordFile(layout, node, name);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        AtomicFile.Write(file, JsonSerializer.SerializeToUtf8Bytes(sandbox, SandboxJson.Default.LabSandbox));
        return sandbox;
    }

    /// <summary>StopPodSandbox then RemovePodSandbox of a recorded sandbox (containerd's two DELs); false when there is none of that name.</summary>
    public static async Task<bool> RemoveAsync(LabLayout layout, LabState state, string name, CancellationToken cancellationToken = default)
    {
        if (Find(layout, state, name) is not { } sandbox) return false;
        RequireContainerd(layout, state, sandbox.Node);
        using var cri = new CriClient(LabContainerd.Socket(layout, sandbox.Node), CriTimeout);
        await cri.StopPodSandboxAsync(sandbox.SandboxId, cancellationToken);
        await cri.RemovePodSandboxAsync(sandbox.SandboxId, cancellationToken);
        File.Delete(RecordFile(layout, sandbox.Node, name));
        return true;
    }

    /// <summary>Every recorded sandbox, node order then name.</summary>
    public static IReadOnlyList<LabSandbox> List(LabLayout layout, LabState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var sandboxes = new List<LabSandbox>();
        foreach (var node in state.Nodes)
        {
            var dir = RecordDirectory(layout, node.Name);
            if (!Directory.Exists(dir)) continue;
            foreach (var file in Directory.EnumerateFiles(dir, "*.json").Order(StringComparer.Ordinal))
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), SandboxJson.Default.LabSandbox) is { } s) sandboxes.Add(s);
        }
        return sandboxes;
    }

    private static LabSandbox? Find(LabLayout layout, LabState state, string name) => List(layout, state).FirstOrDefault(s => s.Name == name);

    private static void RequireContainerd(LabLayout layout, LabState state, string node)
    {
        if (!LabContainerd.For(layout, state.RequireNode(node)).Answers())
            throw new InvalidOperationException($"{node} runs no containerd: bring the lab up with 'fathomctl lab up --runtime containerd'");
    }

    private static string RecordDirectory(LabLayout layout, string node) => Path.Combine(LabContainerd.Paths(layout, node).Directory, "sandboxes");

    private static string RecordFile(LabLayout layout, string node, string name) => Path.Combine(RecordDirectory(layout, node), name + ".json");
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(LabSandbox))]
internal sealed partial class SandboxJson : JsonSerializerContext;
