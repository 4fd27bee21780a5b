using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Fathom.Netlink;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// Issue 9 §7–§8: the lab runs a fathom-agent in every node, supervises it, and makes pods through
/// the installed plugin as a runtime would. Each test brings its own lab up (they kill processes).
/// </summary>
[Collection(LabCollection.Name)]
public sealed partial class LabAgentTests(ITestOutputHelper output)
{
    private static readonly string[] Tools = ["ip", "dnsmasq", "dhclient"];

    /// <summary>fathomctl on the test lab, with the plugin under test installed (FATHOM_PLUGIN).</summary>
    private static Shell.Result Ctl(params string[] args) =>
        Shell.Run(TestLab.Server.FileName, [.. TestLab.Server.LeadingArguments, .. args],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = TestLab.Layout.Prefix, [CniPods.PluginVariable] = Repository.Plugin },
            timeout: TimeSpan.FromSeconds(120));

    private static ulong NetnsInode(string nameOrPath)
    {
        using var ns = Netns.Open(nameOrPath);
        return ns.Inode;
    }

    private static AgentStatus StatusOf(LabLayout layout, string node) =>
        new AgentClient(layout.AgentSocket(node), TimeSpan.FromSeconds(5)).Status();

    private static void WaitForFullPools(LabLayout layout, params string[] nodes)
    {
        foreach (var node in nodes)
            Eventually.True(() => StatusOf(layout, node).Pools.All(p => p.Available > 0), $"{node}'s pools to fill", TimeSpan.FromSeconds(30));
    }

    /// <summary><c>lab pod add</c>, which must succeed; returns the pod's IP.</summary>
    private static string AddPod(string name, string node, string mode)
    {
        var add = Ctl("lab", "pod", "add", name, "--node", node, "--mode", mode, "--json");
        Assert.True(add.ExitCode == 0, $"pod {name} ({mode} on {node}): {add.Stderr}");
        return (string)JsonNode.Parse(add.Stdout)!["ip"]!;
    }

    /// <summary>Whether pod <paramref name="from"/> reaches <paramref name="ip"/> (up to three pings), through <c>fathomctl lab pod exec</c>.</summary>
    private static bool Pings(string from, string ip) =>
        Enumerable.Range(0, 3).Any(_ => Ctl("lab", "pod", "exec", from, "--", "ping", "-c1", "-W2", ip).ExitCode == 0);

    /// <summary>Whether <paramref name="netns"/> reaches <paramref name="ip"/> (up to three pings), through <c>ip netns exec</c>.</summary>
    private static bool PingsFromNetns(string netns, string ip) =>
        Enumerable.Range(0, 3).Any(_ => Shell.Run("ip", ["netns", "exec", netns, "ping", "-c1", "-W2", ip]).ExitCode == 0);

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void EveryNodeRunsAnAgentThatAnswersAndOneKilledIsBackWithinASecond()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.small" });

            // One agent per node, inside the node's netns, answering on the node's socket.
            Assert.Equal(["node1", "node2"], state.Agents.Select(a => a.Node));
            foreach (var agent in state.Agents)
            {
                Assert.True(Signal.IsAlive(agent.Pid), $"agent of {agent.Node} runs");
                Assert.Equal(NetnsInode(layout.NodeNetns(int.Parse(agent.Node[4..]))), NetnsInode($"/proc/{agent.Pid}/ns/net"));
                Assert.Equal(layout.AgentSocket(agent.Node), agent.Socket);
                Assert.NotEmpty(StatusOf(layout, agent.Node).AgentVersion);
                Assert.True(File.Exists(layout.AgentConfigFile(agent.Node)));
            }

            // SIGKILL node1's agent: the server starts a new one, recorded in lab.json, that answers.
            var old = state.Agents[0].Pid;
            var killedAt = Stopwatch.StartNew();
            Assert.True(Signal.Send(old, Signal.SIGKILL));
            LabAgent? back = null;
            Eventually.True(() =>
            {
                back = LabStateStore.TryLoad(layout)?.Agents.FirstOrDefault(a => a.Node == "node1");
                return back is not null && back.Pid != old && Signal.IsAlive(back.Pid);
            }, "a new agent in node1", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
            var restartedIn = killedAt.Elapsed;
            output.WriteLine($"restarted after {restartedIn.TotalMilliseconds:0} ms (pid {old} → {back!.Pid})");
            // Within a second by design; the slack is for a loaded 2-core test box.
            Assert.True(restartedIn < TimeSpan.FromSeconds(3), $"restarted after {restartedIn.TotalMilliseconds:0} ms");
            Eventually.True(() => NodeAgentSupervisor.Answers(layout.AgentSocket("node1")), "the new agent to listen", TimeSpan.FromSeconds(15));
            Assert.NotEmpty(StatusOf(layout, "node1").AgentVersion);
            Assert.Equal(state.Agents[1].Pid, LabStateStore.TryLoad(layout)!.Agents[1].Pid);

            // An agent that stops by itself (SIGTERM: exit 0) comes back too, as under Restart=always.
            var stopped = state.Agents[1].Pid;
            Assert.True(Signal.Send(stopped, Signal.SIGTERM));
            Eventually.True(() => LabStateStore.TryLoad(layout)?.Agents.FirstOrDefault(a => a.Node == "node2") is { } a && a.Pid != stopped && Signal.IsAlive(a.Pid),
                "a new agent in node2", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(20));
            Eventually.True(() => NodeAgentSupervisor.Answers(layout.AgentSocket("node2")), "node2's new agent to listen", TimeSpan.FromSeconds(15));

            var pids = LabStateStore.TryLoad(layout)!.Agents.Select(a => a.Pid).Append(old).Append(stopped).ToList();
            LabControl.Down(layout);
            Assert.All(pids, pid => Assert.False(Signal.IsAlive(pid), $"agent {pid} survived lab down"));
            Assert.Empty(Shell.Run("pgrep", ["-f", layout.StateDirectory + "/"]).Stdout.Trim());
        });
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void NoAgentsMakesABareCloud()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            Ctl("lab", "up", "--nodes", "1", "--instance-type", "t3.small", "--no-agents").EnsureSuccess("lab up --no-agents");
            var state = LabStateStore.TryLoad(layout)!;
            Assert.False(state.Options.Agents);
            Assert.Empty(state.Agents);
            Assert.False(File.Exists(layout.AgentSocket("node1")));
            Assert.Empty(Shell.Run("pgrep", ["-f", layout.StateDirectory + "/node1/agent.json"]).Stdout.Trim());
        });
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void StatusJsonListsAgentsAndPodsAndPodExecPassesExitCodes()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "t3.small" });
            var podNetns = layout.PodNetns("rec");
            Netns.Create(podNetns).Dispose();
            Ctl("lab", "pod", "record", "rec", "--node", "node1", "--mode", "shared", "--ip", "10.0.0.99").EnsureSuccess("lab pod record");

            var status = JsonNode.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status").Stdout)!;
            var agent = Assert.Single(status["agents"]!.AsArray())!;
            Assert.Equal("node1", (string?)agent["node"]);
            Assert.Equal(state.Agents[0].Pid, (int)agent["pid"]!);
            var pod = Assert.Single(status["pods"]!.AsArray())!;
            Assert.Equal(("rec", "node1", "shared", "10.0.0.99", podNetns),
                ((string?)pod["name"], (string?)pod["node"], (string?)pod["mode"], (string?)pod["ip"], (string?)pod["netns"]));

            // The text form asks each agent for its own summary.
            Assert.Matches(@"agent\s+node1\s+pid \d+ .*answers: ", Ctl("lab", "status").Stdout);

            // exec runs in the pod's netns and passes the exit code through.
            Assert.Equal(0, Ctl("lab", "pod", "exec", "rec", "--", "true").ExitCode);
            Assert.Equal(7, Ctl("lab", "pod", "exec", "rec", "--", "sh", "-c", "exit 7").ExitCode);
            var inode = Ctl("lab", "pod", "exec", "rec", "--", "readlink", "/proc/self/ns/net").EnsureSuccess("exec readlink").Stdout.Trim();
            Assert.Equal($"net:[{NetnsInode(podNetns)}]", inode);
            Assert.NotEqual(0, Ctl("lab", "pod", "exec", "nosuchpod", "--", "true").ExitCode);

            // fathomctl status renders the node's agent.
            var tables = Ctl("status", "--node", "node1").EnsureSuccess("fathomctl status --node node1").Stdout;
            Assert.Contains("POOLS", tables);
            Assert.Contains("ALLOCATIONS", tables);

            Ctl("lab", "pod", "del", "rec").EnsureSuccess("lab pod del");
            Assert.False(Netns.Exists(podNetns));
        });
    }

    [GeneratedRegex(@"CNI error (\d+): \S")]
    private static partial Regex CniError();

    /// <summary>
    /// With no agent on the node (a lab up with --no-agents), an underlay ADD that names no device
    /// cannot be served: the add fails, prints the CNI error's code and message, and leaves no pod behind.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void PodAddThroughThePluginFailsWithTheCniErrorWhenNoAgentServes()
    {
        Assert.True(File.Exists(Repository.Plugin), $"no plugin at {Repository.Plugin}: run ./build.sh or set FATHOM_PLUGIN");
        TestLab.WithOwnLab(Tools, layout =>
        {
            TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "t3.small", Agents = false });
            var add = Ctl("lab", "pod", "add", "web", "--node", "node1", "--mode", "underlay", "--json");
            output.WriteLine(add.Stderr);
            Assert.NotEqual(0, add.ExitCode);
            Assert.Matches(CniError(), add.Stderr);
            Assert.Empty(add.Stdout.Trim());
            Assert.False(Netns.Exists(layout.PodNetns("web")), "a failed ADD leaves no pod netns");
            Assert.DoesNotContain(LabStateStore.LoadPods(layout), p => p.Name == "web");
            // The conflist the runtime used: the node's agent, no device.
            var conflist = JsonNode.Parse(File.ReadAllText(Path.Combine(layout.CniConfigDirectory("node1"), "10-fathom-underlay.conflist")))!;
            Assert.Equal(layout.AgentSocket("node1"), (string?)conflist["plugins"]![0]!["agentSocket"]);
        });
    }

    /// <summary>
    /// With the agent's pools, the add succeeds: the pod gets an address and a MAC, exec sees
    /// them, status lists the pod, del removes it.
    /// </summary>
    [PrivilegedTheory("ip", "dnsmasq", "dhclient")]
    [InlineData("underlay")]
    [InlineData("shared")]
    public void PodAddThroughThePluginMakesAPodTheAgentAllocated(string mode)
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "t3.medium" });
            Eventually.True(() => StatusOf(layout, "node1").Pools.Any(p => p.Mode.ToString().Equals(mode, StringComparison.OrdinalIgnoreCase) && p.Available > 0), $"the agent's {mode} pool to fill", TimeSpan.FromSeconds(30));
            var add = Ctl("lab", "pod", "add", "web", "--node", "node1", "--mode", mode, "--json");
            Assert.True(add.ExitCode == 0, add.Stderr);
            var pod = JsonNode.Parse(add.Stdout)!;
            Assert.Equal(("web", "node1", mode, layout.PodNetns("web")), ((string?)pod["name"], (string?)pod["node"], (string?)pod["mode"], (string?)pod["netns"]));
            var ip = (string)pod["ip"]!;
            Assert.DoesNotContain("/", ip);
            Assert.Matches("^([0-9a-f]{2}:){5}[0-9a-f]{2}$", (string)pod["mac"]!);
            Assert.Contains(ip, Ctl("lab", "pod", "exec", "web", "--", "ip", "-4", "addr", "show", "eth0").EnsureSuccess("exec ip addr").Stdout);
            Assert.Contains(StatusOf(layout, "node1").Allocations, a => a.Allocation.Ip == ip);
            var listed = JsonNode.Parse(Ctl("lab", "status", "--json").Stdout)!["pods"]!.AsArray();
            Assert.Contains(listed, p => (string?)p!["name"] == "web" && (string?)p["ip"] == ip);

            Ctl("lab", "pod", "del", "web").EnsureSuccess("lab pod del");
            Assert.False(Netns.Exists(layout.PodNetns("web")));
            Assert.DoesNotContain(StatusOf(layout, "node1").Allocations, a => a.Allocation.Ip == ip);
        });
    }

    /// <summary>
    /// Issue 9 §9, across nodes: on a 2-node m5.large lab, an underlay pod (a whole ENI) on node1
    /// and shared pods (secondary IPs) on both nodes all reach each other and the nodes reach
    /// their own pods (kubelet probes) — through the lab's VPC router, which, like a VPC, knows
    /// which ENI holds each secondary IP.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void Underlay_and_shared_pods_on_two_nodes_reach_each_other()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "m5.large" });
            WaitForFullPools(layout, "node1", "node2");
            var pods = new Dictionary<string, string>
            {
                ["u1"] = AddPod("u1", "node1", "underlay"),
                ["s1"] = AddPod("s1", "node1", "shared"),
                ["s2"] = AddPod("s2", "node2", "shared"),
            };
            foreach (var (from, _) in pods)
                foreach (var (to, ip) in pods.Where(p => p.Key != from))
                    Assert.True(Pings(from, ip), $"pod {from} → pod {to} ({ip})");
            foreach (var (pod, node) in (ValueTuple<string, int>[])[("u1", 1), ("s1", 1), ("s2", 2)])
                Assert.True(Shell.Exec(layout.NodeNetns(node), "ping", "-c1", "-W2", pods[pod]).ExitCode == 0, $"node{node} → its pod {pod}");
            foreach (var pod in pods.Keys)
                Ctl("lab", "pod", "del", pod).EnsureSuccess($"lab pod del {pod}");
        });
    }

    /// <summary>
    /// Issue 9 §9, filling a 2-node m5.large lab (3 ENIs × 10 IPv4): node1 takes 2 underlay pods (its
    /// two non-primary ENIs), node2 takes 27 shared pods (3 × 9, the primary ENI's secondary IPs
    /// included); the next ADD on either fails with code 11 naming the limit; the pods reach the
    /// other node's pods and their own node; deleting them all leaves no allocation.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void A_full_node_says_so_with_code_11_and_every_pod_it_holds_is_reachable()
    {
        TestLab.WithOwnLab(Tools, layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "m5.large" });
            WaitForFullPools(layout, "node1", "node2");
            var underlay = Enumerable.Range(1, 2).ToDictionary(i => $"u{i}", i => AddPod($"u{i}", "node1", "underlay"));
            var shared = Enumerable.Range(1, 27).ToDictionary(i => $"s{i}", i => AddPod($"s{i}", "node2", "shared"));
            Assert.Equal(29, underlay.Values.Concat(shared.Values).Distinct().Count());

            var moreEni = Ctl("lab", "pod", "add", "u3", "--node", "node1", "--mode", "underlay");
            Assert.NotEqual(0, moreEni.ExitCode);
            Assert.Contains("CNI error 11", moreEni.Stderr);
            Assert.Contains("limit", moreEni.Stderr);
            var moreIp = Ctl("lab", "pod", "add", "s28", "--node", "node2", "--mode", "shared");
            Assert.NotEqual(0, moreIp.ExitCode);
            Assert.Contains("CNI error 11", moreIp.Stderr);
            Assert.Contains("limit", moreIp.Stderr);

            // Pinged from each pod's netns directly (`lab pod exec` is tested above): 58 fathomctl starts less.
            var node1Ip = state.Nodes[0].PrimaryIp;
            var node2Ip = state.Nodes[1].PrimaryIp;
            foreach (var (pod, _) in underlay)
            {
                Assert.True(PingsFromNetns(layout.PodNetns(pod), shared["s1"]), $"{pod} → s1");
                Assert.True(PingsFromNetns(layout.PodNetns(pod), node1Ip), $"{pod} → its node");
            }
            foreach (var (pod, _) in shared)
            {
                Assert.True(PingsFromNetns(layout.PodNetns(pod), underlay["u1"]), $"{pod} → u1");
                Assert.True(PingsFromNetns(layout.PodNetns(pod), node2Ip), $"{pod} → its node");
            }

            foreach (var pod in underlay.Keys.Concat(shared.Keys))
                Ctl("lab", "pod", "del", pod).EnsureSuccess($"lab pod del {pod}");
            Assert.Empty(StatusOf(layout, "node1").Allocations);
            Assert.Empty(StatusOf(layout, "node2").Allocations);
        });
    }
}
