using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Lab.Control;

/// <summary>
/// The config the lab writes for each node's <c>fathom-agent</c> (docs/agent.md, Running it): the
/// node's own socket, state directory and log under the lab's state directory, metrics on the
/// node's loopback — and, once the agent reads them, the cloud (the lab's EC2 endpoint as the node
/// reaches it, the lab's credentials) and the pools.
/// </summary>
public static class NodeAgentConfig
{
    /// <summary>
    /// The agent's metrics port. Every node has its own loopback (it is a netns), so every agent
    /// serves on 127.0.0.1:9780 — the default of a real node — without clashing.
    /// </summary>
    public const int MetricsPort = 9780;

    /// <summary>
    /// THE place the lab builds an agent's config: new agent keys drop in here, nowhere else. Every
    /// node's agent keeps pools from the lab's EC2 (issue 9 §8); a lab without agents is `lab up --no-agents`.
    /// </summary>
    public static JsonObject Build(LabLayout layout, LabState state, LabNode node)
    {
        var config = new JsonObject
        {
            ["socketPath"] = layout.AgentSocket(node.Name),
            ["stateDir"] = layout.AgentStateDirectory(node.Name),
            ["metricsAddress"] = $"127.0.0.1:{MetricsPort}",
            ["ipCooldownSeconds"] = 30,
            // The lab's state is on /run, a tmpfs that a power loss empties anyway: an fsync buys nothing.
            ["syncStateWrites"] = false,
            ["logLevel"] = "info",
            ["cloud"] = CloudSection(state),
            ["pools"] = PoolsSection(layout, node),
            ["subnets"] = SubnetsSection(layout, state, node),
        };
        return config;
    }

    /// <summary>The host-gw pods' cluster CIDR in the lab (outside the VPC's 10.0.0.0/16).</summary>
    public const string HostGwClusterCidr = "10.244.0.0/16";

    /// <summary>The overlay pods' cluster CIDR in the lab: its own, so a node serves both modes at once.</summary>
    public const string OverlayClusterCidr = "10.245.0.0/16";

    /// <summary>
    /// The lease TTL of the lab's agents: 30 s (renewed every 10 s), so a node that left is forgotten
    /// by the others within half a minute, where a real cluster's default is 2 minutes.
    /// </summary>
    public const int LeaseTtlSeconds = 30;

    /// <summary>
    /// host-gw and overlay (issue 10): the node publishes its primary ENI's address on eth0 (every
    /// node's primary ENI is in the first subnet: one L2 segment, as host-gw needs); each mode's
    /// leases in the lab's datastore — a directory of the lab's state shared by all agents
    /// (embedded), or the lab's etcd members under a cluster name per mode; both modes' pod path
    /// as <c>lab up --redirect</c> says (kernel forwarding or the tc BPF pod path).
    /// </summary>
    internal static JsonObject SubnetsSection(LabLayout layout, LabState state, LabNode node)
    {
        JsonObject Datastore(string mode, string cidr)
        {
            var section = new JsonObject { ["kind"] = state.Options.Datastore, ["clusterCidr"] = cidr, ["ttlSeconds"] = LeaseTtlSeconds };
            if (state.Options.Datastore == "etcd")
            {
                section["endpoints"] = new JsonArray([.. state.Etcd.Select(m => (JsonNode)m.ClientUrl)]);
                section["cluster"] = $"{ClusterName(layout)}-{mode}";
            }
            else
            {
                section["directory"] = Path.Combine(layout.StateDirectory, "datastore", mode);
            }
            return section;
        }
        return new JsonObject
        {
            ["nodeName"] = node.Name,
            ["nodeIp"] = node.PrimaryIp,
            ["fabricDevice"] = "eth0",
            ["reconcileSeconds"] = 5,
            ["hostGw"] = new JsonObject { ["datastore"] = Datastore("host-gw", HostGwClusterCidr), ["redirect"] = state.Options.Redirect },
            ["overlay"] = new JsonObject { ["datastore"] = Datastore("overlay", OverlayClusterCidr), ["vni"] = 1, ["redirect"] = state.Options.Redirect },
        };
    }

    /// <summary>
    /// The cloud as the agent in a node reaches it: the <c>aws</c> provider pointed at the lab's EC2
    /// endpoint inside the VPC (http://10.0.0.1, not the host's 127.0.0.1, which in the node's netns
    /// is the node's own loopback), signed with the lab's credentials; IMDS at its usual address.
    /// </summary>
    internal static JsonObject CloudSection(LabState state) => new()
    {
        ["provider"] = "aws",
        ["region"] = state.Credentials.Region,
        ["serviceUrl"] = state.VpcEndpoint,
        ["accessKeyId"] = state.Credentials.AccessKeyId,
        ["secretAccessKey"] = state.Credentials.SecretAccessKey,
    };

    /// <summary>
    /// The pools: ENIs tagged with the lab's cluster name and the node's EC2 Name; the other targets
    /// are the agent's defaults (one warm ENI, two warm IPs, the instance type's limits).
    /// </summary>
    internal static JsonObject PoolsSection(LabLayout layout, LabNode node) => new()
    {
        ["cluster"] = ClusterName(layout),
        ["nodeName"] = node.Name,
    };

    /// <summary>The cluster name of a lab's agents: "lab-{prefix}".</summary>
    public static string ClusterName(LabLayout layout) => "lab-" + layout.Prefix;

    /// <summary>Writes the node's config to <see cref="LabLayout.AgentConfigFile"/> (0600: it may carry credentials).</summary>
    public static string Write(LabLayout layout, LabState state, LabNode node)
    {
        var path = layout.AgentConfigFile(node.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        AtomicFile.Write(path, System.Text.Encoding.UTF8.GetBytes(Build(layout, state, node).ToJsonString(Indented)));
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
