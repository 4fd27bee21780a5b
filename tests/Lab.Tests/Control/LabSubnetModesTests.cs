using Fathom.Lab.Control;
using Fathom.Lab.Datastore;
using Fathom.Netlink;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// Issue 10 §5–§6 in the lab: host-gw and overlay pods made through the installed plugin and the
/// nodes' agents reach each other across nodes, beside shared pods, on the embedded datastore and
/// on the lab's real 3-member etcd — which loses one member, then two, and gets them back.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabSubnetModesTests(ITestOutputHelper output)
{
    private static readonly string[] Tools = ["ip", "dnsmasq", "dhclient", "ping"];

    private static Shell.Result Ctl(params string[] args) =>
        Shell.Run(TestLab.Server.FileName, [.. TestLab.Server.LeadingArguments, .. args],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = TestLab.Layout.Prefix, [CniPods.PluginVariable] = Repository.Plugin },
            timeout: TimeSpan.FromSeconds(120));

    private static string AddPod(string name, string node, string mode) =>
        Ctl("lab", "pod", "add", name, "--node", node, "--mode", mode, "--json").EnsureSuccess($"lab pod add {name} --mode {mode}").Stdout
            is var json ? System.Text.Json.Nodes.JsonNode.Parse(json)!["ip"]!.GetValue<string>() : "";

    /// <summary>
    /// The lab with the agents of artifacts/bin (as the plugin is): the agent beside the tests runs
    /// without Microsoft.Extensions.Logging.Abstractions, which this test project takes from the
    /// ASP.NET framework instead of copying it, and which the datastore library needs.
    /// </summary>
    private static void WithOwnLab(Action<LabLayout> test)
    {
        var before = Environment.GetEnvironmentVariable(AgentCommand.Variable);
        Environment.SetEnvironmentVariable(AgentCommand.Variable, Path.Combine(Repository.Bin, "fathom-agent"));
        try
        {
            TestLab.WithOwnLab(Tools, test);
        }
        finally
        {
            Environment.SetEnvironmentVariable(AgentCommand.Variable, before);
        }
    }

    private static System.Text.Json.Nodes.JsonNode Status() =>
        System.Text.Json.Nodes.JsonNode.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json").Stdout)!;

    private static bool Pings(string from, string ip) =>
        Enumerable.Range(0, 3).Any(_ => Ctl("lab", "pod", "exec", from, "--", "ping", "-c1", "-W2", ip).ExitCode == 0);

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void On_the_embedded_store_host_gw_and_overlay_pods_reach_across_nodes_beside_shared_pods()
    {
        WithOwnLab(layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.small" });
            Assert.Equal("embedded", state.Options.Datastore);
            var status = Status();
            Assert.Equal("cni", status["runtime"]!["kind"]!.GetValue<string>());
            Assert.Equal("embedded", status["datastore"]!["kind"]!.GetValue<string>());
            Assert.Equal(Path.Combine(layout.StateDirectory, "datastore"), status["datastore"]!["directory"]!.GetValue<string>());
            var shared = AddPod("s1", "node1", "shared");
            var h1 = AddPod("h1", "node1", "host-gw");
            var h2 = AddPod("h2", "node2", "host-gw");
            var o1 = AddPod("o1", "node1", "overlay");
            var o2 = AddPod("o2", "node2", "overlay");
            Assert.StartsWith("10.244.", h1);
            Assert.StartsWith("10.245.", o1);

            Assert.True(Pings("h1", h2), "host-gw node1 → node2");
            Assert.True(Pings("h2", h1), "host-gw node2 → node1");
            Assert.True(Pings("o1", o2), "overlay node1 → node2");
            Assert.True(Pings("o2", o1), "overlay node2 → node1");
            Assert.True(Pings("s1", state.Nodes[1].PrimaryIp), "the shared pod still reaches the other node");
            Assert.True(Pings("h1", state.Nodes[0].PrimaryIp), "the host-gw pod reaches its node");
            // Outgoing NAT (docs/modes.md, "Leaving the cluster"): a VPC address answers a host-gw or overlay
            // pod on another node, its reply taking the VPC's route back to the node the pod is behind.
            var vpcPod = AddPod("s2", "node2", "shared");
            Assert.True(Pings("h1", vpcPod), "host-gw pod → a shared pod (a VPC address) on the other node");
            Assert.True(Pings("o1", vpcPod), "overlay pod → the same");
            // And back (docs/modes.md, "Across modes"): a shared pod reaches the subnet modes' pods, here and there.
            Assert.True(Pings("s1", h2) && Pings("s1", o2) && Pings("s1", h1), "shared pod → host-gw and overlay pods on both nodes");
            // Also one whose address another ENI than the primary owns (a t3.small's primary has 3 secondary IPs): the
            // reply comes in by that ENI, which the reverse-path check lets through only with its address on it.
            foreach (var name in (string[])["s3", "s4", "s5"])
            {
                var ip = AddPod(name, "node1", "shared");
                Assert.True(Pings(name, h2) && Pings(name, o2), $"shared pod {name} ({ip}) → host-gw and overlay pods on node2");
            }
            var sharedEnis = Ctl("status", "--node", "node1").EnsureSuccess("status --node node1").Stdout.Split('\n')
                .Where(l => l.Contains(" shared ", StringComparison.Ordinal))
                .Select(l => System.Text.RegularExpressions.Regex.Match(l, @"eni-[0-9a-f]+").Value).Where(e => e.Length > 0).Distinct();
            Assert.True(sharedEnis.Count() >= 2, "node1's shared pods sit on two ENIs");
            // An underlay pod reaches them through its small veth to the node (the agent's nodeRoutes: the two cluster CIDRs).
            AddPod("u1", "node1", "underlay");
            Assert.True(Pings("u1", h2) && Pings("u1", o2) && Pings("u1", h1), "underlay pod → host-gw and overlay pods on both nodes");
            // Overlay's pods carry the fabric's MTU less VXLAN's 50 bytes (the lab's fabric: 9001).
            Assert.Contains("mtu 8951", Shell.IpIn(layout.PodNetns("o1"), "link", "show", "eth0"));
            Assert.Contains("mtu 9001", Shell.IpIn(layout.PodNetns("h1"), "link", "show", "eth0"));
            // Each agent's summary names its subnets and their pods; fathomctl status lists them.
            Assert.Matches(@"agent\s+node1\s.*answers: .*, host-gw 10\.244\.\d+\.0/\d+ 1 pod\(s\), overlay 10\.245\.\d+\.0/\d+ 1 pod\(s\)",
                Ctl("lab", "status").EnsureSuccess("lab status").Stdout);
            Assert.Contains($"  host-gw  {h1}/32", Ctl("status", "--node", "node1").EnsureSuccess("status --node node1").Stdout);

            // DEL: the pod goes, its veth is deleted in the background, the address is free again.
            Ctl("lab", "pod", "del", "h1").EnsureSuccess("lab pod del h1");
            Assert.Equal(h1, AddPod("h3", "node1", "host-gw"));
            Assert.True(Pings("h3", h2), "the new host-gw pod reaches node2's");
            output.WriteLine($"shared {shared}, host-gw {h1} {h2}, overlay {o1} {o2}");
        });
    }

    /// <summary>
    /// <c>lab up --redirect bpf</c>: the agents attach the tc BPF pod path, and host-gw and overlay
    /// pods on different nodes reach each other with neither node's IP stack forwarding their packets
    /// (IpForwDatagrams of both nodes' netns unchanged), while the node still reaches its pod.
    /// </summary>
    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping", "tc")]
    public void With_redirect_bpf_cross_node_pods_reach_each_other_with_the_nodes_forwarding_nothing()
    {
        WithOwnLab(layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.small", Redirect = "bpf" });
            Assert.Contains("\"redirect\": \"bpf\"", File.ReadAllText(layout.AgentConfigFile("node1")));
            var h1 = AddPod("h1", "node1", "host-gw");
            var h2 = AddPod("h2", "node2", "host-gw");
            var o1 = AddPod("o1", "node1", "overlay");
            var o2 = AddPod("o2", "node2", "overlay");
            string[] nodes = [layout.NodeNetns("node1"), layout.NodeNetns("node2")];
            foreach (var node in nodes)
                Eventually.True(() => Ingress(node, "eth0").Contains("fathom_to_pod", StringComparison.Ordinal)
                    && Ingress(node, "fathom.1").Contains("fathom_to_pod", StringComparison.Ordinal), $"to_pod on {node}'s eth0 and fathom.1");

            var before = nodes.Sum(Forwarded);
            Assert.True(Pings("h1", h2), "host-gw node1 → node2");
            Assert.True(Pings("h2", h1), "host-gw node2 → node1");
            Assert.True(Pings("o1", o2), "overlay node1 → node2");
            Assert.True(Pings("o2", o1), "overlay node2 → node1");
            var after = nodes.Sum(Forwarded);
            Assert.True(before == after, $"the nodes forwarded {after - before} datagrams of pod-to-pod traffic");
            Assert.Equal(0, Shell.Exec(nodes[0], "ping", "-c1", "-W2", h1).ExitCode); // node → its pod (kubelet's probes)
            output.WriteLine($"host-gw {h1} {h2}, overlay {o1} {o2}; IpForwDatagrams of both nodes {before} → {after}");
        });
    }

    private static string Ingress(string netns, string device) =>
        Shell.Exec(netns, "tc", "filter", "show", "dev", device, "ingress").Stdout;

    // Ip: ForwDatagrams of the netns (/proc/net/snmp is per network namespace).
    private static long Forwarded(string netns)
    {
        var lines = Shell.Exec(netns, "cat", "/proc/net/snmp").EnsureSuccess("cat /proc/net/snmp").Stdout
            .Split('\n').Where(l => l.StartsWith("Ip: ", StringComparison.Ordinal)).ToList();
        var at = Array.IndexOf(lines[0].Split(' '), "ForwDatagrams");
        return long.Parse(lines[1].Split(' ')[at], System.Globalization.CultureInfo.InvariantCulture);
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping", "etcd")]
    public void On_the_labs_etcd_pods_survive_losing_members_and_ADD_says_11_naming_etcd_without_quorum()
    {
        WithOwnLab(layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.small", Datastore = "etcd" });
            Assert.Equal(LabEtcd.Size, state.Etcd.Count);
            Assert.Contains("\"kind\": \"etcd\"", File.ReadAllText(layout.AgentConfigFile("node1")));
            var h1 = AddPod("h1", "node1", "host-gw");
            var h2 = AddPod("h2", "node2", "host-gw");
            var o1 = AddPod("o1", "node1", "overlay");
            var o2 = AddPod("o2", "node2", "overlay");
            Assert.True(Pings("h1", h2), "host-gw across nodes on etcd");
            Assert.True(Pings("o2", o1), "overlay across nodes on etcd");

            var members = Status()["datastore"]!["members"]!.AsArray();
            Assert.Equal(["etcd1", "etcd2", "etcd3"], members.Select(m => m!["name"]!.GetValue<string>()));
            Assert.All(members, m => Assert.True(m!["running"]!.GetValue<bool>() && m["healthy"]!.GetValue<bool>(), m.ToJsonString()));

            // One member down: leases renew elsewhere, new pods work — and a new node joins.
            Kill(state.Etcd[0]);
            members = Status()["datastore"]!["members"]!.AsArray();
            Assert.False(members[0]!["running"]!.GetValue<bool>() || members[0]!["healthy"]!.GetValue<bool>(), members[0]!.ToJsonString());
            // Two of three are a quorum: healthy again once they have a leader (an election if etcd1 led).
            Eventually.True(() => Status()["datastore"]!["members"]![1]!["healthy"]!.GetValue<bool>(), "etcd2 healthy without etcd1");
            var h3 = AddPod("h3", "node1", "host-gw");
            Assert.True(Pings("h3", h2), "a new pod with one member down");
            JoinAndLeave(layout, state, h1, h2);
            // etcd1 back on its data, then etcd2 down: the quorum is now etcd1 + etcd3, so etcd1 must
            // have caught up for ADDs (and renewals) to go through.
            var restarted = state.Etcd[0] with { Pid = LabEtcd.StartMember(layout.VpcNetns, state.Etcd[0], state.Etcd) };
            Kill(state.Etcd[1]);
            // A renewal (every 10 s in the lab, bounded by 5 s) must go through this quorum before the
            // ADD below counts: a failed one would make it 11.
            Thread.Sleep(TimeSpan.FromSeconds(16));
            var n = 0;
            string? caughtUp = null;
            Eventually.True(() =>
            {
                var r = Ctl("lab", "pod", "add", $"c{n++}", "--node", "node2", "--mode", "overlay", "--json");
                if (r.ExitCode == 0) caughtUp = System.Text.Json.Nodes.JsonNode.Parse(r.Stdout)!["ip"]!.GetValue<string>();
                return r.ExitCode == 0;
            }, "an ADD with the restarted member in the quorum", TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
            Assert.True(Pings("o1", caughtUp!), "the pod made then is reachable");

            // Two down (etcd2, etcd3): no quorum. Existing pods keep working; a new ADD is 11 naming etcd (within a renewal or two).
            Kill(state.Etcd[2]);
            Shell.Result? refused = null;
            Eventually.True(() =>
            {
                var r = Ctl("lab", "pod", "add", $"x{n++}", "--node", "node2", "--mode", "host-gw");
                if (r.ExitCode == 0) return false;
                refused = r;
                return true;
            }, "an ADD refused without quorum", TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
            output.WriteLine(refused!.Stderr);
            Assert.Contains("CNI error 11", refused.Stderr);
            Assert.Contains("etcd (http://", refused.Stderr);
            Assert.True(Pings("h1", h2), "existing host-gw pods keep working without quorum");
            Assert.True(Pings("o1", o2), "existing overlay pods keep working without quorum");

            // Restored: recovery is automatic.
            LabEtcd.StartMember(layout.VpcNetns, state.Etcd[1], state.Etcd);
            LabEtcd.StartMember(layout.VpcNetns, state.Etcd[2], state.Etcd);
            // (The lab server's own children are reaped by it; these are this test's, and lab down kills them.)
            string? back = null;
            Eventually.True(() =>
            {
                var r = Ctl("lab", "pod", "add", $"y{n++}", "--node", "node2", "--mode", "host-gw", "--json");
                if (r.ExitCode == 0) back = System.Text.Json.Nodes.JsonNode.Parse(r.Stdout)!["ip"]!.GetValue<string>();
                return r.ExitCode == 0;
            }, "ADD works again once quorum is back", TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(1));
            Assert.True(Pings("h1", back!), "the pod made after recovery is reachable across nodes");
            output.WriteLine($"etcd1 restarted as pid {restarted.Pid}");
        });
    }

    /// <summary>
    /// Issue 10 §6, "a new node still works" with an etcd member down: <c>lab node add node3</c> launches a
    /// new instance whose agent leases a subnet of its own; its host-gw pod reaches node1's and node2's and
    /// back. Then <c>lab node rm</c>, refused while the pod is there, removes the node and its netns.
    /// </summary>
    private void JoinAndLeave(LabLayout layout, LabState state, string h1, string h2)
    {
        Assert.Equal(2, Ctl("lab", "node", "add", "Node-3").ExitCode); // a bad name is usage: exit 2
        var taken = Ctl("lab", "node", "add", "node1");
        Assert.Equal(1, taken.ExitCode);
        Assert.Contains("already has a node 'node1'", taken.Stderr);

        var added = Ctl("lab", "node", "add", "node3", "--json").EnsureSuccess("lab node add node3");
        var node3 = System.Text.Json.Nodes.JsonNode.Parse(added.Stdout)!;
        Assert.Equal(layout.NodeNetns("node3"), node3["netns"]!.GetValue<string>());
        Assert.DoesNotContain(node3["instanceId"]!.GetValue<string>(), state.Nodes.Select(n => n.InstanceId));
        var lab = LabStateStore.TryLoad(layout)!;
        Assert.Equal(["node1", "node2", "node3"], lab.Nodes.Select(n => n.Name));
        Assert.Contains(lab.Agents, a => a.Node == "node3" && Signal.IsAlive(a.Pid));

        var h9 = AddPod("h9", "node3", "host-gw");
        string Subnet(string ip) => string.Join('.', ip.Split('.')[..3]);
        Assert.DoesNotContain(Subnet(h9), new[] { Subnet(h1), Subnet(h2) }); // node3 leased a subnet of its own
        Assert.True(Pings("h9", h1), "node3's pod → node1's");
        Assert.True(Pings("h9", h2), "node3's pod → node2's");
        Assert.True(Pings("h1", h9), "node1's pod → node3's");
        Assert.True(Pings("h2", h9), "node2's pod → node3's");

        var refused = Ctl("lab", "node", "rm", "node3");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("has pods (h9)", refused.Stderr);
        Ctl("lab", "pod", "del", "h9").EnsureSuccess("lab pod del h9");
        Ctl("lab", "node", "rm", "node3").EnsureSuccess("lab node rm node3");
        Assert.False(Netns.Exists(layout.NodeNetns("node3")), "node3's netns is gone");
        lab = LabStateStore.TryLoad(layout)!;
        Assert.Equal(["node1", "node2"], lab.Nodes.Select(n => n.Name));
        Assert.DoesNotContain(lab.Agents, a => a.Node == "node3");
        Assert.Equal(0, Ctl("lab", "status").ExitCode);
        output.WriteLine($"node3 {node3["instanceId"]} {node3["primaryIp"]}: host-gw pod {h9}");
    }

    private static void Kill(LabEtcdMember member)
    {
        Assert.True(Signal.Send(member.Pid, Signal.SIGKILL), $"{member.Name} (pid {member.Pid}) runs");
        Eventually.True(() => !Signal.IsAlive(member.Pid), $"{member.Name} gone");
    }
}
