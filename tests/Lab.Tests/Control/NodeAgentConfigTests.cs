using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Agent.Hosting;
using Fathom.Lab.Control;

namespace Fathom.Lab.Tests.Control;

/// <summary>The config the lab writes for each node's agent, and the conflists it hands the plugin.</summary>
public sealed class NodeAgentConfigTests
{
    private static readonly LabLayout Layout = new("flabcfg");

    private static readonly LabState State = new()
    {
        Prefix = "flabcfg",
        Options = new LabOptions(),
        Credentials = new LabCredentials("AKIAABCDEFGHIJKLMNOP", "secret/secret+secret", "us-east-1"),
        VpcEndpoint = "http://10.0.0.1",
    };

    private static readonly LabNode Node1 = new("node1", "flabcfg-node1", "i-0123", "t3.medium", "10.0.0.10", "02:00:0a:00:00:0a", "subnet-1");

    [Fact]
    public void TheAgentAcceptsTheConfigAndItNamesTheNodesOwnPaths()
    {
        var json = NodeAgentConfig.Build(Layout, State, Node1).ToJsonString();
        // The agent's own parser: an unknown field would be refused, so this is what the agent reads.
        var config = AgentConfig.Parse(Encoding.UTF8.GetBytes(json), "lab");
        Assert.Equal("/run/fathom-lab/flabcfg/node1/run/agent.sock", config.SocketPath);
        Assert.Equal(Layout.AgentSocket("node1"), config.SocketPath);
        Assert.Equal(Layout.AgentStateDirectory("node1"), config.StateDir);
        Assert.Equal("127.0.0.1:9780", config.MetricsAddress);
        Assert.False(config.SyncStateWrites);
        Assert.NotEqual(Layout.AgentSocket("node1"), Layout.AgentSocket("node2"));
    }

    [Fact]
    public void SubnetsUseTheLabsEmbeddedStoreOrItsEtcdWithOneLocationPerMode()
    {
        var embedded = AgentConfig.Parse(Encoding.UTF8.GetBytes(NodeAgentConfig.Build(Layout, State, Node1).ToJsonString()), "lab").Subnets!;
        Assert.Equal(("node1", "10.0.0.10", "eth0"), (embedded.NodeName, embedded.NodeIp, embedded.FabricDevice));
        Assert.Equal(("embedded", NodeAgentConfig.HostGwClusterCidr, "/run/fathom-lab/flabcfg/datastore/host-gw"),
            (embedded.HostGw!.Datastore.Kind, embedded.HostGw.Datastore.ClusterCidr, embedded.HostGw.Datastore.Directory));
        Assert.Equal(NodeAgentConfig.OverlayClusterCidr, embedded.Overlay!.Datastore.ClusterCidr);
        Assert.Equal("/run/fathom-lab/flabcfg/datastore/overlay", embedded.Overlay.Datastore.Directory);

        var members = Fathom.Lab.Datastore.LabEtcd.Plan(Layout, "10.0.0.1");
        var etcdState = State with { Options = new LabOptions { Datastore = "etcd" }, Etcd = members };
        var etcd = AgentConfig.Parse(Encoding.UTF8.GetBytes(NodeAgentConfig.Build(Layout, etcdState, Node1).ToJsonString()), "lab").Subnets!;
        Assert.Equal(["http://10.0.0.1:2379", "http://10.0.0.1:12379", "http://10.0.0.1:22379"], etcd.HostGw!.Datastore.Endpoints);
        Assert.Equal(("lab-flabcfg-host-gw", "lab-flabcfg-overlay"), (etcd.HostGw.Datastore.Cluster, etcd.Overlay!.Datastore.Cluster));
    }

    [Fact]
    public void BothSubnetModesTakeTheLabsRedirect()
    {
        var kernel = AgentConfig.Parse(Encoding.UTF8.GetBytes(NodeAgentConfig.Build(Layout, State, Node1).ToJsonString()), "lab").Subnets!;
        Assert.Equal(("kernel", "kernel"), (kernel.HostGw!.Redirect, kernel.Overlay!.Redirect));
        var bpfState = State with { Options = new LabOptions { Redirect = "bpf" } };
        var bpf = AgentConfig.Parse(Encoding.UTF8.GetBytes(NodeAgentConfig.Build(Layout, bpfState, Node1).ToJsonString()), "lab").Subnets!;
        Assert.Equal(("bpf", "bpf"), (bpf.HostGw!.Redirect, bpf.Overlay!.Redirect));
    }

    [Fact]
    public void CloudAndPoolsPointAtTheLabsEc2AsTheNodeReachesIt()
    {
        var cloud = NodeAgentConfig.CloudSection(State);
        Assert.Equal("aws", (string?)cloud["provider"]);
        Assert.Equal("http://10.0.0.1", (string?)cloud["serviceUrl"]);
        Assert.Equal("us-east-1", (string?)cloud["region"]);
        Assert.Equal("AKIAABCDEFGHIJKLMNOP", (string?)cloud["accessKeyId"]);
        Assert.Equal("secret/secret+secret", (string?)cloud["secretAccessKey"]);
        var pools = NodeAgentConfig.PoolsSection(Layout, Node1);
        Assert.Equal("lab-flabcfg", (string?)pools["cluster"]);
        Assert.Equal("node1", (string?)pools["nodeName"]);

        // Every agent of a lab keeps pools from the lab's EC2.
        var built = NodeAgentConfig.Build(Layout, State, Node1);
        Assert.Equal("http://10.0.0.1", (string?)built["cloud"]!["serviceUrl"]);
        Assert.Equal("lab-flabcfg", (string?)built["pools"]!["cluster"]);
    }

    [Fact]
    public void TheConflistNamesTheNodesAgentAndADeviceOnlyWhenGiven()
    {
        var underlay = NodeAgentConfigTestsJson(CniPods.Conflist(Layout, "node2", "underlay", device: null));
        Assert.Equal("1.1.0", (string?)underlay["cniVersion"]);
        Assert.Equal("fathom-underlay", (string?)underlay["name"]);
        var plugin = underlay["plugins"]![0]!;
        Assert.Equal("fathom", (string?)plugin["type"]);
        Assert.Equal("underlay", (string?)plugin["mode"]);
        Assert.Equal(Layout.AgentSocket("node2"), (string?)plugin["agentSocket"]);
        Assert.Null(plugin["device"]);

        var withDevice = CniPods.Conflist(Layout, "node1", "underlay", "eth2");
        Assert.Equal("eth2", (string?)withDevice["plugins"]![0]!["device"]);
        Assert.Equal("shared", (string?)CniPods.Conflist(Layout, "node1", "shared", null)["plugins"]![0]!["mode"]);
    }

    [Fact]
    public void AnOlderLabJsonReadsWithAgentsOnAndNoneRecorded()
    {
        const string old = """
            { "prefix": "flab", "options": { "nodes": 1, "instanceType": "t3.medium" }, "phase": "Ready",
              "credentials": { "accessKeyId": "A", "secretAccessKey": "s", "region": "us-east-1" } }
            """;
        var state = JsonSerializer.Deserialize(old, LabJsonContext.Default.LabState)!;
        Assert.True(state.Options.Agents);
        Assert.Empty(state.Agents);
    }

    [Fact]
    public void APodsIpIsItsFirstAddress()
    {
        Assert.Equal("10.0.0.7", new LabPod("p", "ns", "node1", "shared", ["10.0.0.7", "10.0.0.8"]).Ip);
        Assert.Null(new LabPod("p", "ns", "node1", "shared", []).Ip);
    }

    private static JsonNode NodeAgentConfigTestsJson(JsonObject o) => JsonNode.Parse(o.ToJsonString())!;
}
