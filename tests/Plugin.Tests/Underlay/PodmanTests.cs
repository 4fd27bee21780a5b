using System.Text.Json.Nodes;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Underlay;

/// <summary>
/// A real runtime: podman 4 with its CNI network backend runs a busybox container on a Fathom
/// underlay network. podman runs inside the test's host netns (so the plugin's "host" is that
/// namespace), with its own storage, run and temp directories and its own containers.conf, so
/// the machine's podman state is untouched. podman makes and removes the container's netns.
/// </summary>
public sealed class PodmanTests
{
    private sealed class PodmanHome : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("fathom-ul-podman-").FullName;
        public string Rootfs => Path.Combine(Dir, "rootfs");
        public string NetworkDir => Path.Combine(Dir, "networks");

        public PodmanHome(string cniBin)
        {
            // A rootfs is a folder: busybox-static and the applets the test uses.
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
                cni_plugin_dirs = ["{cniBin}"]
                network_config_dir = "{NetworkDir}"

                [engine]
                runtime = "runc"
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                """);
        }

        /// <summary>
        /// podman in <paramref name="hostNetns"/>: nsenter enters only the network namespace
        /// (ip netns exec would also remount /sys, hiding the cgroup mounts runc needs).
        /// </summary>
        public Shell.Result Podman(TestNetns hostNetns, params string[] args) =>
            Shell.Run("nsenter", [$"--net={hostNetns.Path}", "podman",
                "--root", Path.Combine(Dir, "root"), "--runroot", Path.Combine(Dir, "runroot"),
                "--tmpdir", Path.Combine(Dir, "tmp"), "--network-backend", "cni", .. args],
                env: new Dictionary<string, string> { ["CONTAINERS_CONF"] = Path.Combine(Dir, "containers.conf") },
                timeout: TimeSpan.FromSeconds(120));

        public void Dispose()
        {
            // Container storage may hold read-only layers and mounts: unmount what podman left, then delete.
            Shell.Run("umount", ["-R", Path.Combine(Dir, "root", "overlay")]);
            try { Directory.Delete(Dir, recursive: true); }
            catch (IOException) { Shell.Run("rm", ["-rf", Dir]); }
            catch (UnauthorizedAccessException) { Shell.Run("rm", ["-rf", Dir]); }
        }
    }

    [PrivilegedFact("ip", "podman", "runc", "nsenter", "busybox")]
    public void ContainerGetsTheDeviceAsEth0AndRmReturnsIt()
    {
        Privileged.Require("ip", "podman", "runc", "nsenter", "busybox");
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        using var home = new PodmanHome(bin.Path);
        var network = new JsonObject
        {
            // podman 4.3 vendors libcni 1.1: it speaks up to spec 1.0.0.
            ["cniVersion"] = "1.0.0",
            ["name"] = "fathom-ul",
            ["plugins"] = new JsonArray(UnderlayConfigs.ListEntry(UnderlayConfigs.Build("1.0.0", staticIpam: true))),
        };
        File.WriteAllText(Path.Combine(home.NetworkDir, "fathom-ul.conflist"), network.ToJsonString());
        var name = "fathom-ul-" + bed.Pod.Name[^8..];
        try
        {
            home.Podman(bed.Host, "run", "-d", "--rm=false", "--name", name, "--network", "fathom-ul",
                "--rootfs", home.Rootfs, "/bin/sleep", "600").EnsureSuccess("podman run");

            // Inside: the device is eth0, with its MAC and address, and reaches the peer namespace.
            var addr = home.Podman(bed.Host, "exec", name, "/bin/ip", "addr", "show", "eth0").EnsureSuccess("podman exec ip addr").Stdout;
            Assert.Contains(UnderlayBed.DeviceMac, addr);
            Assert.Contains("inet " + UnderlayBed.PodAddress, addr);
            Assert.Contains("mtu " + UnderlayBed.DeviceMtu, addr);
            home.Podman(bed.Host, "exec", name, "/bin/ping", "-c", "1", "-W", "2", UnderlayBed.Gateway).EnsureSuccess("ping the peer from the container");
            var route = home.Podman(bed.Host, "exec", name, "/bin/ip", "route").EnsureSuccess("podman exec ip route").Stdout;
            Assert.Contains($"default via {UnderlayBed.Gateway} dev eth0", route);
            Assert.Null(KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device));
        }
        finally
        {
            // -t 0: busybox sleep as PID 1 ignores SIGTERM; don't wait ten seconds for it.
            home.Podman(bed.Host, "rm", "-f", "-t", "0", name);
        }

        // podman rm ran the plugin's DEL: the device is back on the host under its own name.
        var back = KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device);
        Assert.NotNull(back);
        Assert.Equal(UnderlayBed.DeviceMac, back.Mac);
        Assert.Equal(UnderlayBed.DeviceMtu, back.Mtu);
    }
}
