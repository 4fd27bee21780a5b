using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// Issue 9 §9, a real runtime on a lab node: podman 4 with its CNI backend, run inside node1's
/// netns, starts a busybox container on an underlay network whose config names no device — the
/// node's fathom-agent picks the ENI — and the container reaches a pod on node2 through the VPC.
/// podman keeps its storage, run and temp directories and its containers.conf in a scratch
/// directory named with the lab's prefix (as tests/Plugin.Tests/Underlay/PodmanTests.cs does for
/// the named-device mode), so the machine's podman state is untouched; podman makes and removes
/// the container's netns.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabPodmanTests(ITestOutputHelper output)
{
    private static readonly string[] Tools = ["ip", "dnsmasq", "dhclient", "ping", "podman", "runc", "nsenter", "busybox"];

    private sealed class PodmanHome : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory(TestLab.Layout.Prefix + "-podman-").FullName;
        public string Rootfs => Path.Combine(Dir, "rootfs");
        public string NetworkDir => Path.Combine(Dir, "networks");
        public string CniBin => Path.Combine(Dir, "cni-bin");

        public PodmanHome(string plugin)
        {
            foreach (var d in new[] { "bin", "proc", "sys", "dev", "etc", "tmp" })
                Directory.CreateDirectory(Path.Combine(Rootfs, d));
            File.Copy(Privileged.FindTool("busybox")!, Path.Combine(Rootfs, "bin", "busybox"));
            foreach (var applet in new[] { "sh", "ip", "ping", "sleep", "cat" })
                File.CreateSymbolicLink(Path.Combine(Rootfs, "bin", applet), "busybox");
            Directory.CreateDirectory(NetworkDir);
            Directory.CreateDirectory(CniBin);
            File.CreateSymbolicLink(Path.Combine(CniBin, "fathom"), plugin);
            // As PodmanTests: no RLIMIT_NOFILE raise, cgroupfs, the CNI backend reading our directory only.
            File.WriteAllText(Path.Combine(Dir, "containers.conf"), $"""
                [containers]
                default_ulimits = []

                [network]
                network_backend = "cni"
                cni_plugin_dirs = ["{CniBin}"]
                network_config_dir = "{NetworkDir}"

                [engine]
                runtime = "runc"
                cgroup_manager = "cgroupfs"
                events_logger = "file"
                """);
        }

        /// <summary>podman in the node's netns: nsenter enters only the network namespace (ip netns exec would remount /sys).</summary>
        public Shell.Result Podman(string netns, params string[] args) =>
            Shell.Run("nsenter", [$"--net=/run/netns/{netns}", "podman",
                "--root", Path.Combine(Dir, "root"), "--runroot", Path.Combine(Dir, "runroot"),
                "--tmpdir", Path.Combine(Dir, "tmp"), "--network-backend", "cni", .. args],
                env: new Dictionary<string, string> { ["CONTAINERS_CONF"] = Path.Combine(Dir, "containers.conf") },
                timeout: TimeSpan.FromSeconds(120));

        public void Dispose()
        {
            Shell.Run("umount", ["-R", Path.Combine(Dir, "root", "overlay")]);
            try { Directory.Delete(Dir, recursive: true); }
            catch (IOException) { Shell.Run("rm", ["-rf", Dir]); }
            catch (UnauthorizedAccessException) { Shell.Run("rm", ["-rf", Dir]); }
        }
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping", "podman", "runc", "nsenter", "busybox")]
    public void A_podman_container_on_a_lab_node_gets_an_agent_eni_as_eth0_and_reaches_a_pod_on_the_other_node()
    {
        Assert.True(File.Exists(Repository.Plugin), $"no plugin at {Repository.Plugin}: run ./build.sh or set FATHOM_PLUGIN");
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "m5.large" });
            foreach (var node in state.Nodes)
                Eventually.True(() => LabAudit.Status(layout, node.Name).Pools.All(p => p.Available > 0), $"{node.Name}'s pools to fill", TimeSpan.FromSeconds(60));
            var runtime = new LabRuntime(layout, state, Repository.Plugin);
            var peer = runtime.Add("peer", "node2", "shared");
            var node1 = state.RequireNode("node1").Netns;

            using var home = new PodmanHome(Repository.Plugin);
            var network = new JsonObject
            {
                // podman 4.3 vendors libcni 1.1: it speaks up to spec 1.0.0.
                ["cniVersion"] = "1.0.0",
                ["name"] = "fathom-lab",
                ["plugins"] = new JsonArray(new JsonObject
                {
                    ["type"] = "fathom",
                    ["mode"] = "underlay",
                    ["agentSocket"] = layout.AgentSocket("node1"),
                }),
            };
            File.WriteAllText(Path.Combine(home.NetworkDir, "fathom-lab.conflist"), network.ToJsonString());
            var name = layout.Prefix + "-web";
            try
            {
                home.Podman(node1, "run", "-d", "--rm=false", "--name", name, "--network", "fathom-lab",
                    "--rootfs", home.Rootfs, "/bin/sleep", "600").EnsureSuccess("podman run");

                // The agent gave the container a whole ENI: its MAC and primary IP are eth0's.
                var eni = Assert.Single(LabAudit.Status(layout, "node1").Allocations).Allocation;
                var underlay = Assert.IsType<UnderlayAllocation>(eni);
                var addr = home.Podman(node1, "exec", name, "/bin/ip", "addr", "show", "eth0").EnsureSuccess("podman exec ip addr").Stdout;
                output.WriteLine(addr);
                Assert.Contains(underlay.Mac, addr);
                Assert.Contains("inet " + underlay.Address, addr);
                Assert.True(Enumerable.Range(0, 3).Any(_ => home.Podman(node1, "exec", name, "/bin/ping", "-c", "1", "-W", "2", peer.Ip).ExitCode == 0),
                    $"the container ({underlay.Ip}) reaches pod {peer.Name} on node2 ({peer.Ip})");
            }
            finally
            {
                // -t 0: busybox sleep as PID 1 ignores SIGTERM.
                home.Podman(node1, "rm", "-f", "-t", "0", name);
            }

            // podman rm ran the plugin's DEL: the allocation is gone and the ENI is back in node1.
            runtime.Delete(peer, TimeSpan.FromSeconds(30));
            LabAudit.Settles(() => [.. LabAudit.Leaks(layout, state, []), .. LabAudit.KernelLeftovers(layout, state)],
                "nothing left once the container and the pod are gone", TimeSpan.FromSeconds(30));
        });
    }
}
