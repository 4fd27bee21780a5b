using System.Text;
using System.Text.Json.Nodes;
using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Fathom.Ctl.Tests.Deploy;

/// <summary>
/// deploy/: the DaemonSet manifest and the systemd unit agree with the agent they run — its config
/// (read by the agent's own parser), its default paths, the plugin's socket, the capabilities it needs.
/// </summary>
public sealed class DeployManifestTests
{
    private static string Deploy => Path.Combine(Repository.Root, "deploy");

    /// <summary>
    /// The manifest's documents as JSON, parsed by YamlDotNet (a parse error fails the test): plain
    /// scalars that YAML 1.2's core schema reads as booleans or integers become those, the rest strings.
    /// </summary>
    private static JsonArray ParseYaml(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(File.ReadAllText(path)))
            stream.Load(reader);
        return new JsonArray([.. stream.Documents.Where(d => d.RootNode is not YamlScalarNode { Value: null or "" }).Select(d => ToJson(d.RootNode))]);
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(ToJson)]),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } b => JsonValue.Create(b.Value == "true"),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" } => null,
        YamlScalarNode { Style: ScalarStyle.Plain } n when int.TryParse(n.Value, out var i) => JsonValue.Create(i),
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new InvalidOperationException($"unexpected YAML node {node.NodeType} at {node.Start}"),
    };

    private static string KubernetesManifest => Path.Combine(Deploy, "kubernetes", "fathom.yaml");

    [Fact]
    public void TheManifestIsYamlWithoutTabsAndEveryDocumentHasAKind()
    {
        var text = File.ReadAllText(KubernetesManifest);
        Assert.DoesNotContain('\t', text);
        var kinds = text.Split("\n---\n").Select(d => d.Split('\n').FirstOrDefault(l => l.StartsWith("kind: ", StringComparison.Ordinal))).Where(k => k is not null).ToList();
        Assert.Equal(["kind: ConfigMap", "kind: DaemonSet"], kinds);
        Assert.Equal(["ConfigMap", "DaemonSet"], ParseYaml(KubernetesManifest).Select(d => (string?)d!["kind"]));
    }

    [Fact]
    public void TheDaemonSetRunsTheAgentOnTheHostNetworkWithTheConfigTheAgentAccepts()
    {
        var documents = ParseYaml(KubernetesManifest);
        var configMap = documents.Single(d => (string?)d!["kind"] == "ConfigMap")!;
        var daemonSet = documents.Single(d => (string?)d!["kind"] == "DaemonSet")!;

        // The agent's own parser reads the config (it refuses unknown fields and relative paths).
        var config = AgentConfig.Parse(Encoding.UTF8.GetBytes((string)configMap["data"]!["agent.json"]!), "deploy/kubernetes/fathom.yaml agent.json");
        Assert.Equal(AgentProtocol.DefaultSocketPath, config.SocketPath);

        var pod = daemonSet["spec"]!["template"]!["spec"]!;
        Assert.True((bool)pod["hostNetwork"]!);
        var agent = pod["containers"]!.AsArray().Single(c => (string?)c!["name"] == "agent")!;
        var command = agent["command"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.EndsWith("fathom-agent", command[0]);
        Assert.Equal(["--config", AgentConfig.DefaultPath], command[1..]);
        Assert.Equal(["NET_ADMIN", "SYS_ADMIN"], agent["securityContext"]!["capabilities"]!["add"]!.AsArray().Select(c => (string)c!).Order());
        Assert.Equal(config.MetricsEndPoint!.Port, (int)agent["livenessProbe"]!["httpGet"]!["port"]!);
        Assert.Equal(config.MetricsEndPoint!.Port, (int)agent["readinessProbe"]!["httpGet"]!["port"]!);
        Assert.Equal("/readyz", (string?)agent["readinessProbe"]!["httpGet"]!["path"]);

        // Every path the agent uses is a mounted volume: the config's folder, the socket's, the state dir.
        var mounts = agent["volumeMounts"]!.AsArray().Select(m => ((string)m!["mountPath"]!, (string)m["name"]!)).ToDictionary();
        var volumes = pod["volumes"]!.AsArray().ToDictionary(v => (string)v!["name"]!, v => v!);
        Assert.Equal("config", mounts[Path.GetDirectoryName(AgentConfig.DefaultPath)!]);
        foreach (var path in new[] { Path.GetDirectoryName(config.SocketPath)!, config.StateDir })
            Assert.Equal(path, (string?)volumes[mounts[path]]["hostPath"]!["path"]);

        // The conflist installed on the node sends the plugin to that socket.
        var conflist = JsonNode.Parse((string)configMap["data"]!["10-fathom.conflist"]!)!;
        var plugin = conflist["plugins"]![0]!;
        Assert.Equal("fathom", (string?)plugin["type"]);
        Assert.Equal(config.SocketPath, (string?)plugin["agentSocket"]);
        // containerd 1.6/1.7's libcni refuses a 1.1.0 result: the conflist says 1.0.0 and offers 1.1.0 to newer runtimes.
        Assert.Equal("1.0.0", (string?)conflist["cniVersion"]);
        Assert.Contains("1.1.0", conflist["cniVersions"]!.AsArray().Select(v => (string?)v));
        Assert.Contains("/opt/cni/bin", pod["volumes"]!.AsArray().Select(v => (string?)v!["hostPath"]?["path"]));
        Assert.Contains("/etc/cni/net.d", pod["volumes"]!.AsArray().Select(v => (string?)v!["hostPath"]?["path"]));
    }

    [Fact]
    public void TheSystemdUnitRunsTheAgentWithItsDefaultPaths()
    {
        var unit = File.ReadAllLines(Path.Combine(Deploy, "systemd", "fathom-agent.service"))
            .Where(l => l.Contains('=') && !l.StartsWith('#'))
            .Select(l => (Key: l[..l.IndexOf('=')], Value: l[(l.IndexOf('=') + 1)..]))
            .ToLookup(kv => kv.Key, kv => kv.Value);
        var defaults = new AgentConfig();
        Assert.EndsWith($"fathom-agent --config {AgentConfig.DefaultPath}", unit["ExecStart"].Single());
        Assert.Equal("always", unit["Restart"].Single());
        Assert.Equal("2", unit["RestartPreventExitStatus"].Single());
        // systemd makes /var/lib/<StateDirectory> and /run/<RuntimeDirectory>: the agent's default state dir and socket folder.
        Assert.Equal(defaults.StateDir, "/var/lib/" + unit["StateDirectory"].Single());
        Assert.Equal(Path.GetDirectoryName(defaults.SocketPath), "/run/" + unit["RuntimeDirectory"].Single());
        Assert.Equal("0700", unit["StateDirectoryMode"].Single());
        Assert.Equal("0700", unit["RuntimeDirectoryMode"].Single());
        Assert.Equal(["CAP_NET_ADMIN", "CAP_SYS_ADMIN"], unit["CapabilityBoundingSet"].Single().Split(' ').Order());
    }

    [Fact]
    public void TheAgentRunsWithPoolsNoApiTokenAndNoMorePrivilegeThanItsCapabilities()
    {
        var documents = ParseYaml(KubernetesManifest);
        var configMap = documents.Single(d => (string?)d!["kind"] == "ConfigMap")!;
        var config = AgentConfig.Parse(Encoding.UTF8.GetBytes((string)configMap["data"]!["agent.json"]!), "deploy/kubernetes/fathom.yaml agent.json");
        // With a cloud and pools: an agent without them answers every ADD with code 11.
        Assert.NotNull(config.Cloud);
        Assert.Equal("aws", config.Cloud!.Provider);
        Assert.Null(config.Cloud.ServiceUrl); // the region's own endpoint
        Assert.Null(config.Cloud.AccessKeyId); // the instance role, never a key in a ConfigMap
        Assert.False(string.IsNullOrEmpty(config.Pools!.Cluster));

        // No RBAC anywhere: no ServiceAccount token mounted, no Role or binding shipped.
        var pod = documents.Single(d => (string?)d!["kind"] == "DaemonSet")!["spec"]!["template"]!["spec"]!;
        Assert.False((bool)pod["automountServiceAccountToken"]!);
        Assert.DoesNotContain(documents, d => ((string?)d!["kind"])?.Contains("Role", StringComparison.Ordinal) == true);
        foreach (var container in pod["containers"]!.AsArray().Concat(pod["initContainers"]!.AsArray()))
            Assert.NotEqual(true, (bool?)container!["securityContext"]?["privileged"]);

        // One image, the one deploy/kubernetes/Containerfile builds, holding both binaries where the manifest runs them.
        var images = pod["containers"]!.AsArray().Concat(pod["initContainers"]!.AsArray()).Select(c => (string)c!["image"]!).Distinct().ToList();
        Assert.Equal(["ghcr.io/fathom-cni/fathom:latest"], images);
        var containerfile = File.ReadAllText(Path.Combine(Deploy, "kubernetes", "Containerfile"));
        Assert.Contains("-t " + images[0], containerfile);
        Assert.Contains("COPY artifacts/bin/ /opt/fathom/bin/", containerfile);
        var install = (string)pod["initContainers"]![0]!["command"]![2]!;
        Assert.Contains("/opt/fathom/bin/fathom ", install);
    }
}
