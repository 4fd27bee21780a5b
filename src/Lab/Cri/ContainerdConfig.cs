using System.Text;

namespace Fathom.Lab.Cri;

/// <summary>
/// Where one node's containerd keeps everything: one scratch directory (root, state, socket, runc
/// root, CNI directories, log), so two nodes — or two labs — never share a file.
/// </summary>
/// <param name="Directory">The scratch directory, e.g. <c>/run/fathom-lab/flab/node1/containerd</c>.</param>
public sealed record ContainerdPaths(string Directory)
{
    /// <summary>containerd's <c>root</c> (content store, snapshots, metadata).</summary>
    public string Root => Path.Combine(Directory, "root");
    /// <summary>containerd's <c>state</c>.</summary>
    public string State => Path.Combine(Directory, "state");
    /// <summary>The CRI and containerd API socket (<c>grpc.address</c>).</summary>
    public string Socket => Path.Combine(Directory, "containerd.sock");
    /// <summary>config.toml.</summary>
    public string Config => Path.Combine(Directory, "config.toml");
    /// <summary>runc's state root (the runc runtime's <c>Root</c> option).</summary>
    public string RuncRoot => Path.Combine(Directory, "runc");
    /// <summary>The CNI bin dir: <c>fathom</c> and <c>loopback</c> linked in.</summary>
    public string CniBin => Path.Combine(Directory, "cni-bin");
    /// <summary>The CNI conf dir of the runtime handler <paramref name="mode"/>: one conflist each.</summary>
    public string CniConf(string mode) => Path.Combine(Directory, "net.d", mode);
    /// <summary>Bound on /run/containerd inside containerd's mount namespace (the shims' sockets, in s/).</summary>
    public string RunContainerd => Path.Combine(Directory, "run");
    /// <summary>Bind-mounted on /var/lib/cni inside containerd's mount namespace (where libcni caches results).</summary>
    public string VarLibCni => Path.Combine(Directory, "var-lib-cni");
    /// <summary>containerd's stdout and stderr.</summary>
    public string Log => Path.Combine(Directory, "containerd.log");
    /// <summary>The pause image's OCI layout tar.</summary>
    public string PauseImageTar => Path.Combine(Directory, "pause.oci.tar");
    /// <summary>The pid file of the running containerd.</summary>
    public string PidFile => Path.Combine(Directory, "containerd.pid");
    /// <summary>The netns paths its sandboxes reported, one a line, for the last resort of <see cref="ContainerdNode.Stop"/>.</summary>
    public string SandboxNetnsFile => Path.Combine(Directory, "sandbox-netns");
}

/// <summary>
/// containerd 1.6's config.toml (version 2) for a lab node, with the settings that work on a
/// machine without systemd, without CAP_SYS_RESOURCE and without a registry (issue 11 §1).
/// </summary>
public static class ContainerdConfig
{
    /// <summary>
    /// The config: its own root, state, socket and runc root; the CRI plugin with the lab's pause
    /// image, <c>restrict_oom_score_adj</c> (runc's sandbox start fails writing oom_score_adj
    /// below the caller's without CAP_SYS_RESOURCE), overlayfs, cgroupfs cgroups; one runtime
    /// handler per mode in <paramref name="modes"/>, each with a CNI conf dir holding that mode's
    /// conflist, and the default handler with the first mode's.
    /// </summary>
    public static string Render(ContainerdPaths paths, IReadOnlyList<string> modes)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (modes.Count == 0) throw new ArgumentException("at least one mode", nameof(modes));
        var toml = new StringBuilder();
        toml.Append($"""
            # Written by fathomctl lab (ContainerdConfig.Render): containerd for one lab node.
            version = 2
            root = {Quote(paths.Root)}
            state = {Quote(paths.State)}

            [grpc]
              address = {Quote(paths.Socket)}

            [ttrpc]
              address = {Quote(paths.Socket + ".ttrpc")}

            [plugins."io.containerd.grpc.v1.cri"]
              sandbox_image = {Quote(PauseImage.Reference)}
              restrict_oom_score_adj = true
              disable_apparmor = true
              enable_selinux = false
              [plugins."io.containerd.grpc.v1.cri".containerd]
                snapshotter = "overlayfs"
                default_runtime_name = "runc"
            {Runtime("runc", paths, modes[0])}
            """);
        foreach (var mode in modes)
            toml.Append('\n').Append(Runtime(mode, paths, mode));
        toml.Append($"""

              [plugins."io.containerd.grpc.v1.cri".cni]
                bin_dir = {Quote(paths.CniBin)}
                conf_dir = {Quote(paths.CniConf(modes[0]))}
                max_conf_num = 1

            """);
        return toml.ToString();
    }

    private static string Runtime(string name, ContainerdPaths paths, string mode) => $"""
                [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}]
                  runtime_type = "io.containerd.runc.v2"
                  cni_conf_dir = {Quote(paths.CniConf(mode))}
                  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.{name}.options]
                    SystemdCgroup = false
                    Root = {Quote(paths.RuncRoot)}
        """;

    // A TOML basic string: the paths are the lab's own, but quote what TOML would misread anyway.
    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
