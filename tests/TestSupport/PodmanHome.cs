using System.Text.Json.Nodes;

namespace Fathom.Testing;

/// <summary>
/// A real runtime for tests: podman 4 with its CNI network backend, kept whole in a scratch
/// directory — its storage, run and temp directories, its containers.conf and the networks it
/// reads — so the machine's podman state is untouched; a busybox rootfs (a folder) to run.
/// podman runs inside a given network namespace (the plugin's "host"), and makes and removes
/// each container's netns itself.
/// </summary>
public sealed class PodmanHome : IDisposable
{
    /// <summary>The scratch directory: everything of this podman's is below it.</summary>
    public string Dir { get; }

    /// <summary>The containers' root filesystem: busybox-static and the applets the tests use.</summary>
    public string Rootfs => Path.Combine(Dir, "rootfs");

    /// <summary>Where podman's CNI backend reads networks (<see cref="AddNetwork"/>), and nowhere else.</summary>
    public string NetworkDir => Path.Combine(Dir, "networks");

    /// <summary>A home in a new directory named <paramref name="dirPrefix"/>…, whose CNI plugins are those in <paramref name="cniPluginDir"/>.</summary>
    public PodmanHome(string dirPrefix, string cniPluginDir)
        : this(dirPrefix, cniPluginDir, plugin: null)
    {
    }

    /// <summary>A home whose only CNI plugin is <c>fathom</c>, a link to <paramref name="plugin"/> in the home's own plugin directory.</summary>
    public static PodmanHome WithPlugin(string dirPrefix, string plugin) => new(dirPrefix, cniPluginDir: null, plugin);

    private PodmanHome(string dirPrefix, string? cniPluginDir, string? plugin)
    {
        Dir = Directory.CreateTempSubdirectory(dirPrefix).FullName;
        try
        {
            if (cniPluginDir is null)
            {
                cniPluginDir = Directory.CreateDirectory(Path.Combine(Dir, "cni-bin")).FullName;
                File.CreateSymbolicLink(Path.Combine(cniPluginDir, "fathom"), plugin!);
            }
            foreach (var d in new[] { "bin", "proc", "sys", "dev", "etc", "tmp" })
                Directory.CreateDirectory(Path.Combine(Rootfs, d));
            File.Copy(Privileged.FindTool("busybox")!, Path.Combine(Rootfs, "bin", "busybox"));
            foreach (var applet in new[] { "sh", "ip", "ping", "sleep", "cat" })
                File.CreateSymbolicLink(Path.Combine(Rootfs, "bin", applet), "busybox");
            Directory.CreateDirectory(NetworkDir);
            // This machine refuses raising RLIMIT_NOFILE (default_ulimits = []); cgroups v1 without
            // systemd (cgroupfs); the CNI backend reading networks from our directory only.
            File.WriteAllText(Path.Combine(Dir, "containers.conf"), $"""
                [containers]
                default_ulimits = []

                [network]
                network_backend = "cni"
                cni_plugin_dirs = ["{cniPluginDir}"]
                network_config_dir = "{NetworkDir}"

                [engine]
                runtime = "runc"
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                """);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Writes <paramref name="conflist"/> as the network named by its <c>name</c>.</summary>
    public void AddNetwork(JsonObject conflist)
    {
        ArgumentNullException.ThrowIfNull(conflist);
        var name = (string?)conflist["name"] ?? throw new ArgumentException("the conflist has no name", nameof(conflist));
        File.WriteAllText(Path.Combine(NetworkDir, name + ".conflist"), conflist.ToJsonString());
    }

    /// <summary>
    /// podman in the netns at <paramref name="netnsPath"/>: nsenter enters only the network namespace
    /// (ip netns exec would also remount /sys, hiding the cgroup mounts runc needs).
    /// </summary>
    public Shell.Result Podman(string netnsPath, params string[] args) =>
        Shell.Run("nsenter", [$"--net={netnsPath}", "podman",
            "--root", Path.Combine(Dir, "root"), "--runroot", Path.Combine(Dir, "runroot"),
            "--tmpdir", Path.Combine(Dir, "tmp"), "--network-backend", "cni", .. args],
            env: new Dictionary<string, string> { ["CONTAINERS_CONF"] = Path.Combine(Dir, "containers.conf") },
            timeout: TimeSpan.FromSeconds(120));

    /// <summary>Starts container <paramref name="name"/> (busybox sleeping) on <paramref name="network"/>; throws when podman fails.</summary>
    public void RunSleeping(string netnsPath, string name, string network) =>
        Podman(netnsPath, "run", "-d", "--rm=false", "--name", name, "--network", network,
            "--rootfs", Rootfs, "/bin/sleep", "600").EnsureSuccess("podman run");

    /// <summary>Runs <paramref name="command"/> in container <paramref name="name"/>.</summary>
    public Shell.Result Exec(string netnsPath, string name, params string[] command) =>
        Podman(netnsPath, ["exec", name, .. command]);

    /// <summary>Removes container <paramref name="name"/> (podman runs the plugin's DEL); best effort, for finally blocks.</summary>
    public Shell.Result Remove(string netnsPath, string name) =>
        // -t 0: busybox sleep as PID 1 ignores SIGTERM; don't wait ten seconds for it.
        Podman(netnsPath, "rm", "-f", "-t", "0", name);

    public void Dispose()
    {
        // Container storage may hold read-only layers and mounts: unmount what podman left, then delete.
        Shell.Run("umount", ["-R", Path.Combine(Dir, "root", "overlay")]);
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { Shell.Run("rm", ["-rf", Dir]); }
        catch (UnauthorizedAccessException) { Shell.Run("rm", ["-rf", Dir]); }
    }
}
