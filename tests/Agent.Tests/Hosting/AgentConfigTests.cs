using System.Text;
using Fathom.Agent.Hosting;

namespace Fathom.Agent.Tests.Hosting;

public sealed class AgentConfigTests
{
    private static AgentConfig Parse(string json) => AgentConfig.Parse(Encoding.UTF8.GetBytes(json), "agent.json");

    [Fact]
    public void Defaults_are_the_documented_ones()
    {
        var config = Parse("{}");
        Assert.Equal("/run/fathom/agent.sock", config.SocketPath);
        Assert.Equal("/var/lib/fathom/agent", config.StateDir);
        Assert.Equal("127.0.0.1:9780", config.MetricsAddress);
        Assert.Equal(30, config.IpCooldownSeconds);
        Assert.Equal(LogLevel.Info, config.MinimumLogLevel);
        Assert.False(config.SyncStateWrites);
        Assert.Null(config.Cloud);
        Assert.Null(config.Pools);
    }

    [Fact]
    public void Every_field_is_read_and_comments_are_allowed()
    {
        var config = Parse("""
            {
              // where the plugin finds us
              "socketPath": "/run/f/a.sock",
              "stateDir": "/var/lib/f",
              "metricsAddress": "[::1]:9999",
              "ipCooldownSeconds": 5,
              "logLevel": "debug",
              "syncStateWrites": true,
            }
            """);
        Assert.Equal("/run/f/a.sock", config.SocketPath);
        Assert.Equal("/var/lib/f", config.StateDir);
        Assert.Equal(9999, config.MetricsEndPoint!.Port);
        Assert.Equal(5, config.IpCooldownSeconds);
        Assert.Equal(LogLevel.Debug, config.MinimumLogLevel);
        Assert.True(config.SyncStateWrites);
        Assert.Null(Parse("""{"metricsAddress": ""}""").MetricsEndPoint);
    }

    [Theory]
    [InlineData("""{"sockPath": "/x"}""", "sockPath")]
    [InlineData("""{"socketPath": "run/agent.sock"}""", "socketPath 'run/agent.sock' must be an absolute path")]
    [InlineData("""{"stateDir": "state"}""", "stateDir 'state' must be an absolute path")]
    [InlineData("""{"metricsAddress": "0.0.0.0:9780"}""", "is not a loopback address")]
    [InlineData("""{"metricsAddress": "localhost"}""", "is not ip:port")]
    [InlineData("""{"ipCooldownSeconds": -1}""", "ipCooldownSeconds -1 is outside 0..3600")]
    [InlineData("""{"logLevel": "loud"}""", "logLevel 'loud'")]
    [InlineData("""{"socketPath": null}""", "agent.json is not a valid fathom-agent config")]
    [InlineData("""[]""", "agent.json is not a valid fathom-agent config")]
    public void A_wrong_config_is_refused_naming_the_field(string json, string says)
    {
        var e = Assert.Throws<AgentConfigException>(() => Parse(json));
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_file_is_named()
    {
        var e = Assert.Throws<AgentConfigException>(() => AgentConfig.Load("/nonexistent/ftagc-agent.json"));
        Assert.Contains("cannot read the config /nonexistent/ftagc-agent.json", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Cloud_and_pools_are_read_with_their_defaults()
    {
        var config = Parse("""
            {
              "cloud": { "provider": "aws", "region": "us-east-1", "serviceUrl": "http://10.0.0.1:8080/",
                         "accessKeyId": "AKIA", "secretAccessKey": "s", "imdsEndpoint": "http://10.0.0.1:8081/" },
              "pools": { "cluster": "lab", "nodeName": "node-1", "warmEnis": 2, "warmIps": 5, "minimumIps": 10, "maxEnis": 3,
                         "subnetIds": ["subnet-1"], "securityGroupIds": ["sg-1"], "defaultMode": "underlay", "fallback": "shared",
                         "allocateTimeoutSeconds": 3, "mtu": 1500 }
            }
            """);
        Assert.Equal("us-east-1", config.Cloud!.Region);
        Assert.Equal("http://10.0.0.1:8080/", config.Cloud.ServiceUrl);
        Assert.Equal("http://10.0.0.1:8081/", config.Cloud.ImdsEndpoint);
        var pools = config.Pools!;
        Assert.Equal("node-1", pools.EffectiveNodeName);
        Assert.Equal(new Fathom.Agent.Pools.PoolTargets { WarmEnis = 2, WarmIps = 5, MinimumIps = 10, MaxEnis = 3 }, pools.Targets);
        Assert.Equal(["subnet-1"], pools.SubnetIds);
        Assert.Equal(Fathom.Agent.Protocol.AllocationMode.Underlay, pools.DefaultAllocationMode);
        Assert.Equal("shared", pools.Fallback);
        Assert.Equal(1500, pools.Mtu);

        var defaults = Parse("""{"cloud": {}, "pools": {"cluster": "c"}}""").Pools!;
        Assert.Equal(Environment.MachineName, defaults.EffectiveNodeName);
        Assert.Equal(new Fathom.Agent.Pools.PoolTargets(), defaults.Targets);
        Assert.Equal(9001, defaults.Mtu);
        Assert.Equal(10, defaults.AllocateTimeoutSeconds);
        Assert.Equal("none", defaults.Fallback);
    }

    [Theory]
    [InlineData("""{"cloud": {}}""", "pools.cluster (at least) is needed")]
    [InlineData("""{"pools": {"cluster": "c"}}""", "the pools need a cloud")]
    [InlineData("""{"cloud": {}, "pools": {}}""", "pools.cluster is required")]
    [InlineData("""{"cloud": {"provider": "gcp"}, "pools": {"cluster": "c"}}""", "cloud.provider 'gcp'")]
    [InlineData("""{"cloud": {"serviceUrl": "ftp://x"}, "pools": {"cluster": "c"}}""", "cloud.serviceUrl 'ftp://x'")]
    [InlineData("""{"cloud": {"accessKeyId": "a"}, "pools": {"cluster": "c"}}""", "go together")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "warmEnis": -1}}""", "pools.warmEnis -1 is outside")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "maxEnis": 0}}""", "pools.maxEnis 0 is outside")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "mtu": 65000}}""", "pools.mtu 65000")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "defaultMode": "overlay"}}""", "pools.defaultMode 'overlay'")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "fallback": "underlay"}}""", "pools.fallback 'underlay'")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "subnetIds": ["10.0.0.0/24"]}}""", "not a subnet id")]
    [InlineData("""{"cloud": {}, "pools": {"cluster": "c", "warmIp": 1}}""", "warmIp")]
    public void Bad_pool_configs_name_the_field(string json, string expected)
    {
        var e = Assert.Throws<AgentConfigException>(() => Parse(json));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
