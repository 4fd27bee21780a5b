using Fathom.Lab.Control;
using Fathom.Lab.Datastore;
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

    private static bool Pings(string from, string ip) =>
        Enumerable.Range(0, 3).Any(_ => Ctl("lab", "pod", "exec", from, "--", "ping", "-c1", "-W2", ip).ExitCode == 0);

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "ping")]
    public void On_the_embedded_store_host_gw_and_overlay_pods_reach_across_nodes_beside_shared_pods()
    {
        WithOwnLab(layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.small" });
            Assert.Equal("embedded", state.Options.Datastore);
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
            // Overlay's pods carry the fabric's MTU less VXLAN's 50 bytes (the lab's fabric: 9001).
            Assert.Contains("mtu 8951", Shell.IpIn(layout.PodNetns("o1"), "link", "show", "eth0"));
            Assert.Contains("mtu 9001", Shell.IpIn(layout.PodNetns("h1"), "link", "show", "eth0"));

            // DEL: the pod goes, its veth is deleted in the background, the address is free again.
            Ctl("lab", "pod", "del", "h1").EnsureSuccess("lab pod del h1");
            Assert.Equal(h1, AddPod("h3", "node1", "host-gw"));
            Assert.True(Pings("h3", h2), "the new host-gw pod reaches node2's");
            output.WriteLine($"shared {shared}, host-gw {h1} {h2}, overlay {o1} {o2}");
        });
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

            // One member down: leases renew elsewhere, new pods work.
            Kill(state.Etcd[0]);
            var h3 = AddPod("h3", "node1", "host-gw");
            Assert.True(Pings("h3", h2), "a new pod with one member down");
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

    private static void Kill(LabEtcdMember member)
    {
        Assert.True(Signal.Send(member.Pid, Signal.SIGKILL), $"{member.Name} (pid {member.Pid}) runs");
        Eventually.True(() => !Signal.IsAlive(member.Pid), $"{member.Name} gone");
    }
}
