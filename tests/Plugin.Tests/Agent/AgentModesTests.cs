using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Agent;

/// <summary>
/// The agent-backed modes through the published binary, against a real <see cref="AgentListener"/>
/// (the plugin↔agent contract, docs/agent.md) and the real kernel: agent-backed underlay and shared
/// ADD/CHECK/DEL, the pod's choice of mode and the agent's fallback, an absent agent, and that DEL
/// does no kernel work — the agent's <see cref="Fathom.Agent.Teardown.KernelTeardown"/> does it after.
/// </summary>
public sealed class AgentModesTests
{
    private static JsonObject WithPrev(JsonObject config, JsonObject result)
    {
        var copy = (JsonObject)config.DeepClone();
        copy["prevResult"] = result.DeepClone();
        return copy;
    }

    [PrivilegedFact("ip", "ping")]
    public void Underlay_from_the_agent_moves_the_eni_in_and_DEL_leaves_the_kernel_to_the_agent()
    {
        using var t = AgentBed.Create();
        var config = t.Config();
        var add = t.Run("ADD", config, "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1;IgnoreUnknown=1").Result;

        Assert.Equal(UnderlayBed.PodAddress, (string)add["ips"]![0]!["address"]!);
        Assert.Equal(UnderlayBed.Gateway, (string)add["ips"]![0]!["gateway"]!);
        var asked = Assert.Single(t.Agent.Requests);
        Assert.Equal(AllocationMode.Underlay, asked.RequestedMode);
        Assert.Equal("web-1", asked.Pod?.Name);
        Assert.Equal(t.Bed.Pod.Path, asked.NetnsPath);

        var pod = KernelState.Read(t.Bed.Pod.Name);
        var eth0 = pod.Link("eth0") ?? throw new Xunit.Sdk.XunitException($"no eth0 in the pod: {pod}");
        Assert.Equal(UnderlayBed.DeviceMac, eth0.Mac);
        Assert.Equal(UnderlayBed.DeviceMtu, eth0.Mtu);
        Assert.Equal(UnderlayBed.PodAddress, eth0.Addresses);
        Assert.Contains($"default via {UnderlayBed.Gateway} dev eth0", pod.Routes);
        Assert.NotNull(pod.Link("veth-node"));
        Assert.Null(KernelState.Read(t.Bed.Host.Name).Link(UnderlayBed.Device));
        // The pod reaches the subnet through its ENI, and the node reaches the pod (kubelet probes) through the node veth.
        Shell.Exec(t.Bed.Pod.Name, "ping", "-c1", "-W2", UnderlayBed.Gateway).EnsureSuccess("pod → gateway");
        Shell.Exec(t.Bed.Host.Name, "ping", "-c1", "-W2", "-I", FakeAgent.NodeIp, "10.10.0.1").EnsureSuccess("node → pod");

        t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();

        var del = t.Run("DEL", WithPrev(config, add));
        del.EnsureSuccess();
        // DEL released and returned: the ENI is still in the pod until the agent's teardown runs.
        Assert.Equal(0, t.Agent.Held);
        Assert.NotNull(KernelState.Read(t.Bed.Pod.Name).Link("eth0"));
        Assert.Equal(1, t.RunTeardown());
        var host = KernelState.Read(t.Bed.Host.Name);
        var back = host.Link(UnderlayBed.Device) ?? throw new Xunit.Sdk.XunitException($"{UnderlayBed.Device} is not back: {host}");
        Assert.Equal(UnderlayBed.DeviceMac, back.Mac);
        Assert.Equal(UnderlayBed.Device, back.Alias);
        Assert.DoesNotContain(host.Links, l => l.Name.StartsWith("fth", StringComparison.Ordinal));
        Assert.Empty(KernelState.Read(t.Bed.Pod.Name).Links);

        // A second DEL, and the teardown run again, change nothing (idempotent).
        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        Assert.Equal(0, t.RunTeardown());
    }

    [PrivilegedFact("ip")]
    public void Shared_mode_wires_a_veth_and_rules_and_DEL_leaves_them_to_the_agent()
    {
        using var t = AgentBed.Create();
        var config = t.Config(mode: "shared");
        var add = t.Run("ADD", config).Result;
        Assert.Equal(FakeAgent.SharedAddress, (string)add["ips"]![0]!["address"]!);
        Assert.Equal(AllocationMode.Shared, Assert.Single(t.Agent.Requests).RequestedMode);
        Assert.Equal(FakeAgent.SharedAddress, KernelState.Read(t.Bed.Pod.Name).Link("eth0")?.Addresses);
        var rules = Shell.IpIn(t.Bed.Host.Name, "rule", "show");
        Assert.Contains($"from 10.10.0.50 lookup {FakeAgent.SharedTable}", rules);
        Assert.Contains("from all to 10.10.0.50 lookup main", rules);

        t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();

        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        var veth = FakeAgent.SharedVeth(t.Bed.ContainerId);
        Assert.NotNull(KernelState.Read(t.Bed.Host.Name).Link(veth));
        Assert.Equal(1, t.RunTeardown());
        Assert.Null(KernelState.Read(t.Bed.Host.Name).Link(veth));
        Assert.DoesNotContain("10.10.0.50", Shell.IpIn(t.Bed.Host.Name, "rule", "show"));
        Assert.Empty(KernelState.Read(t.Bed.Pod.Name).Links);
    }

    [PrivilegedFact("ip")]
    public void The_log_times_each_step_of_an_agent_backed_ADD_and_DEL()
    {
        // What an operator reads to see where an ADD's time went (docs/cni.md, "Log file"), and what
        // bench cni --plugin-log sums up: every step in order, none longer than the whole.
        using var t = AgentBed.Create();
        var extra = $$""","logFile":"{{t.LogPath}}" """;
        var underlay = t.Run("ADD", t.Config(extra: extra)).Result;
        t.Run("DEL", WithPrev(t.Config(extra: extra), underlay)).EnsureSuccess();
        t.RunTeardown();
        t.Run("ADD", t.Config(mode: "shared", extra: extra), ifName: "eth1").EnsureSuccess();

        var lines = File.ReadAllLines(t.LogPath).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(3, lines.Count);
        var (add, del, shared) = (Steps(lines[0]), Steps(lines[1]), Steps(lines[2]));
        Assert.Equal(["read the environment and stdin", "parse the config", "lock the attachment"], add.Take(3).Select(s => s.Step));
        AssertInOrder(add, "open a netlink socket in the host netns", "allocate with fathom-agent", $"move {UnderlayBed.Device} into the pod's netns as eth0 and set it up",
            "record the attachment", "write the result");
        Assert.Equal(["read the environment and stdin", "parse the config", "lock the attachment", "release with fathom-agent", "remove the record"], del.Select(s => s.Step));
        AssertInOrder(shared, "send the allocation request to fathom-agent", "create the pod's veth while fathom-agent allocates",
            "read fathom-agent's allocation", "record the attachment", "write the result");
        foreach (var (line, steps) in lines.Zip([add, del, shared]))
        {
            Assert.All(steps, s => Assert.True(s.Ms >= 0, $"{s.Step}: {s.Ms} ms"));
            // Each step runs from the end of the one before: together no longer than the invocation (rounded to µs each).
            Assert.True(steps.Sum(s => s.Ms) <= (double)line["durationMs"]! + 0.001 * steps.Count, line.ToJsonString());
        }
    }

    private static List<(string Step, double Ms)> Steps(JsonNode line) =>
        [.. line["steps"]!.AsArray().Select(s => ((string)s!["step"]!, (double)s["ms"]!))];

    private static void AssertInOrder(List<(string Step, double Ms)> steps, params string[] expected)
    {
        var names = steps.Select(s => s.Step).ToList();
        var at = expected.Select(e => names.IndexOf(e)).ToList();
        Assert.True(at.All(i => i >= 0) && at.SequenceEqual(at.Order()), $"expected in order: {string.Join(" | ", expected)}; logged: {string.Join(" | ", names)}");
    }

    // The shared ADD makes the pod's veth while the agent allocates (AgentDatapath): what each way
    // that can end leaves on the node.

    [PrivilegedFact("ip")]
    public void A_shared_ADD_the_agent_refuses_leaves_no_veth_behind()
    {
        using var t = AgentBed.Create();
        t.Agent.NoIpLeft = true;
        var before = KernelState.Read(t.Bed.Host.Name);
        var add = t.Run("ADD", t.Config(mode: "shared"));
        Assert.Equal(11, add.ErrorCode);
        Assert.Contains("no secondary IP left", add.ErrorMessage);
        Assert.Equal(before, KernelState.Read(t.Bed.Host.Name));
        Assert.Empty(KernelState.Read(t.Bed.Pod.Name).Links);
    }

    [PrivilegedFact("ip")]
    public void A_veth_an_earlier_teardown_took_while_the_agent_allocated_is_made_again()
    {
        using var t = AgentBed.Create();
        var veth = FakeAgent.SharedVeth(t.Bed.ContainerId);
        // As the agent does when a teardown of the same name is still queued: it runs it (the veth
        // goes, whoever made it) and only then answers.
        t.Agent.BeforeReply = _ =>
        {
            for (var i = 0; i < 200 && KernelState.Read(t.Bed.Host.Name).Link(veth) is null; i++) Thread.Sleep(10);
            Shell.IpIn(t.Bed.Host.Name, "link", "del", veth);
        };
        var config = t.Config(mode: "shared");
        var add = t.Run("ADD", config).Result;
        Assert.Equal(veth, (string)add["interfaces"]![1]!["name"]!);
        Assert.Equal(FakeAgent.SharedAddress, KernelState.Read(t.Bed.Pod.Name).Link("eth0")?.Addresses);
        Assert.NotNull(KernelState.Read(t.Bed.Host.Name).Link(veth));
        t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();
        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        t.RunTeardown();
    }

    [PrivilegedFact("ip")]
    public void An_agent_that_names_the_veth_otherwise_gets_its_name()
    {
        using var t = AgentBed.Create();
        t.Agent.SharedVethName = "fthothername0";
        var config = t.Config(mode: "shared");
        var add = t.Run("ADD", config).Result;
        var host = KernelState.Read(t.Bed.Host.Name);
        Assert.NotNull(host.Link("fthothername0"));
        Assert.Null(host.Link(FakeAgent.SharedVeth(t.Bed.ContainerId)));
        t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();
        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        t.RunTeardown();
        Assert.Null(KernelState.Read(t.Bed.Host.Name).Link("fthothername0"));
    }

    [PrivilegedFact("ip")]
    public void Without_the_agent_every_command_is_11_naming_it()
    {
        using var t = AgentBed.Create();
        var config = t.Config();
        config["agentSocket"] = "/run/ftwire-no-such-agent/agent.sock";
        var add = t.Run("ADD", config);
        Assert.Equal(11, add.ErrorCode);
        Assert.Contains("fathom-agent is not running (no socket at /run/ftwire-no-such-agent/agent.sock)", add.ErrorMessage);
        Assert.NotNull(KernelState.Read(t.Bed.Host.Name).Link(UnderlayBed.Device));
        Assert.Equal(11, t.Run("DEL", config).ErrorCode);
    }

    [PrivilegedFact("ip")]
    public void A_pod_asks_for_shared_where_the_network_allows_it()
    {
        using var t = AgentBed.Create();
        var refused = t.Run("ADD", t.Config(), "FATHOM_MODE=shared");
        Assert.Equal(7, refused.ErrorCode);
        Assert.Contains("does not allow", refused.ErrorMessage);
        Assert.Empty(t.Agent.Requests);

        var config = t.Config(extra: ""","modes":["underlay","shared"]""");
        var add = t.Run("ADD", config, "FATHOM_MODE=shared").Result;
        Assert.Equal(AllocationMode.Shared, Assert.Single(t.Agent.Requests).RequestedMode);
        Assert.Equal(FakeAgent.SharedAddress, (string)add["ips"]![0]!["address"]!);
        Assert.NotNull(KernelState.Read(t.Bed.Host.Name).Link(UnderlayBed.Device));
        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        t.RunTeardown();
    }

    [PrivilegedFact("ip")]
    public void With_no_eni_left_the_fallback_gives_a_shared_ip_and_the_reply_decides_the_wiring()
    {
        using var t = AgentBed.Create();
        t.Agent.EnisLeft = 0;
        var none = t.Run("ADD", t.Config());
        Assert.Equal(11, none.ErrorCode);
        Assert.Contains("no ENI left", none.ErrorMessage);
        Assert.False(t.Agent.Requests.Single().FallbackAllowed);

        var config = t.Config(extra: ""","fallback":"shared" """);
        var add = t.Run("ADD", config).Result;
        Assert.True(t.Agent.Requests.Last().FallbackAllowed);
        Assert.Equal(AllocationMode.Underlay, t.Agent.Requests.Last().RequestedMode);
        Assert.Equal(FakeAgent.SharedAddress, (string)add["ips"]![0]!["address"]!);
        Assert.Contains($"from 10.10.0.50 lookup {FakeAgent.SharedTable}", Shell.IpIn(t.Bed.Host.Name, "rule", "show"));
        t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();
        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        t.RunTeardown();
    }

    [PrivilegedFact("ip")]
    public void A_failed_add_after_the_allocation_leaves_the_node_as_it_was_and_releases()
    {
        using var t = AgentBed.Create();
        // The pod already holds the node veth's name: refused before the ENI moves.
        Shell.IpIn(t.Bed.Pod.Name, "link", "add", "veth-node", "type", "veth", "peer", "name", "other0");
        var before = KernelState.Read(t.Bed.Host.Name);
        var add = t.Run("ADD", t.Config());
        Assert.Equal(103, add.ErrorCode);
        Assert.Contains("allocation is released", add.ErrorMessage);
        Assert.Equal(0, t.Agent.Held);
        Assert.Equal(before, KernelState.Read(t.Bed.Host.Name));
    }

    [PrivilegedFact("ip")]
    public void The_agents_teardown_returns_the_eni_when_the_pods_netns_went_first()
    {
        using var t = AgentBed.Create();
        var config = t.Config();
        var add = t.Run("ADD", config).Result;
        t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
        // The kernel gives a NIC from a dying netns back to the node under its pod name
        // (default_device_exit); a veth would die instead. Do what the kernel does to a NIC.
        Shell.IpIn(t.Bed.Pod.Name, "link", "set", "eth0", "netns", t.Bed.Host.Name);
        Assert.Equal(1, t.RunTeardown());
        var back = KernelState.Read(t.Bed.Host.Name).Link(UnderlayBed.Device);
        Assert.Equal(UnderlayBed.DeviceMac, back?.Mac);
        Assert.Null(KernelState.Read(t.Bed.Host.Name).Link("eth0"));
    }

    [PrivilegedFact("ip", "/usr/lib/cni/static")]
    public void A_failure_after_the_eni_moved_returns_it_deletes_the_node_veth_and_releases()
    {
        using var t = AgentBed.Create();
        var before = KernelState.Read(t.Bed.Host.Name);
        // The allocation is the IPAM, but a config's own ipam still runs — here one that fails,
        // after the ENI is in the pod and its node veth wired.
        var add = t.Run("ADD", t.Config(extra: ""","ipam":{"type":"static","addresses":[{"address":"not-an-address"}]}"""));
        Assert.False(add.Succeeded, add.ToString());
        Assert.Contains("back on the node", add.ErrorMessage);
        Assert.Contains("allocation is released", add.ErrorMessage);
        Assert.Equal(0, t.Agent.Held);
        Assert.Equal(before, KernelState.Read(t.Bed.Host.Name));
        Assert.Empty(KernelState.Read(t.Bed.Pod.Name).Links);
    }

    [PrivilegedFact("ip")]
    public void An_eni_whose_last_teardown_has_not_run_is_refused_before_it_moves()
    {
        using var t = AgentBed.Create();
        var stale = Fathom.Datapath.NodeVeth.HostNameForEni(UnderlayBed.DeviceMac);
        Shell.IpIn(t.Bed.Host.Name, "link", "add", stale, "type", "veth", "peer", "name", "stale-peer");
        var before = KernelState.Read(t.Bed.Host.Name);
        var add = t.Run("ADD", t.Config());
        Assert.Equal(101, add.ErrorCode);
        Assert.Contains("teardown", add.ErrorMessage);
        Assert.Equal(0, t.Agent.Held);
        Assert.Equal(before, KernelState.Read(t.Bed.Host.Name));
    }
}
