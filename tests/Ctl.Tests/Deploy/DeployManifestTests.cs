using System.Text;
using System.Text.Json.Nodes;
using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;

namespace Fathom.Ctl.Tests.Deploy;

/// <summary>
/// deploy/: the DaemonSet manifest and the systemd unit agree with the agent they run — its config
/// (read by the agent's own parser), its default paths, the plugin's socket, the capabilities it needs.
/// </summary>
public sealed class DeployManifestTests
{
    private static string Deploy => Path.Combine(Repository.Root, "deploy");

    /// <summary>
    /// The manifest's documents as JSON: YAML parsed by PyYAML (python3-yaml) when it is installed;
    /// otherwise null, and the structural checks below stand alone.
    /// </summary>
    private static JsonArray? ParseYaml(string path)
    {
        if (Privileged.FindTool("python3") is not { } python) return null;
        var result = Shell.Run(python, ["-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]))", path]);
        if (result.ExitCode != 0 && result.Stderr.Contains("No module named 'yaml'")) return null;
        Assert.True(result.ExitCode == 0, $"{path} is not valid YAML: {result.Stderr}");
        return JsonNode.Parse(result.Stdout)!.AsArray();
    }

    private static string KubernetesManifest => Path.Combine(Deploy, "kubernetes", "fathom.yaml");

    [Fact]
    public void TheManifestIsYamlWithoutTabsAndEveryDocumentHasAKind()
    {
        var text = File.ReadAllText(KubernetesManifest);
        Assert.DoesNotContain('\t', text);
        var kinds = text.Split("\n---\n").Select(d => d.Split('\n').FirstOrDefault(l => l.StartsWith("kind: ", StringComparison.Ordinal))).Where(k => k is not null).ToList();
        Assert.Equal(["kind: ConfigMap", "kind: DaemonSet"], kinds);
        if (ParseYaml(KubernetesManifest) is { } documents)
            Assert.Equal(["ConfigMap", "DaemonSet"], documents.Select(d => (string?)d!["kind"]));
    }

    [Fact]
    public void TheDaemonSetRunsTheAgentOnTheHostNetworkWithTheConfigTheAgentAccepts()
    {
        var documents = ParseYaml(KubernetesManifest);
        if (documents is null) return; // the structural test above still ran
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
}
