using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// Issue 9 §9, a real runtime on a lab node: podman 4 with its CNI backend, run inside node1's
/// netns, starts a busybox container on an underlay network whose config names no device — the
/// node's fathom-agent picks the ENI — and the container reaches a pod on node2 through the VPC.
/// podman is a <see cref="PodmanHome"/> in a scratch directory named with the lab's prefix (as
/// tests/Plugin.Tests/Underlay/PodmanTests.cs runs it for the named-device mode), so the machine's
/// podman state is untouched; podman makes and removes the container's netns.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabPodmanTests(ITestOutputHelper output)
{
    private static readonly string[] Tools = ["ip", "dnsmasq", "dhclient", "ping", "podman", "runc", "nsenter", "busybox"];

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
            var node1 = "/run/netns/" + state.RequireNode("node1").Netns;

            using var home = PodmanHome.WithPlugin(layout.Prefix + "-podman-", Repository.Plugin);
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
            home.AddNetwork(network);
            var name = layout.Prefix + "-web";
            try
            {
                home.RunSleeping(node1, name, "fathom-lab");

                // The agent gave the container a whole ENI: its MAC and primary IP are eth0's.
                var eni = Assert.Single(LabAudit.Status(layout, "node1").Allocations).Allocation;
                var underlay = Assert.IsType<UnderlayAllocation>(eni);
                var addr = home.Exec(node1, name, "/bin/ip", "addr", "show", "eth0").EnsureSuccess("podman exec ip addr").Stdout;
                output.WriteLine(addr);
                Assert.Contains(underlay.Mac, addr);
                Assert.Contains("inet " + underlay.Address, addr);
                Assert.True(Enumerable.Range(0, 3).Any(_ => home.Exec(node1, name, "/bin/ping", "-c", "1", "-W", "2", peer.Ip).ExitCode == 0),
                    $"the container ({underlay.Ip}) reaches pod {peer.Name} on node2 ({peer.Ip})");
            }
            finally
            {
                home.Remove(node1, name);
            }

            // podman rm ran the plugin's DEL: the allocation is gone and the ENI is back in node1.
            runtime.Delete(peer, TimeSpan.FromSeconds(30));
            LabAudit.Settles(() => [.. LabAudit.Leaks(layout, state, []), .. LabAudit.KernelLeftovers(layout, state)],
                "nothing left once the container and the pod are gone", TimeSpan.FromSeconds(30));
        });
    }
}
