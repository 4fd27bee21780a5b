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
        Assert.True(config.SyncStateWrites);
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
              "syncStateWrites": false,
            }
            """);
        Assert.Equal("/run/f/a.sock", config.SocketPath);
        Assert.Equal("/var/lib/f", config.StateDir);
        Assert.Equal(9999, config.MetricsEndPoint!.Port);
        Assert.Equal(5, config.IpCooldownSeconds);
        Assert.Equal(LogLevel.Debug, config.MinimumLogLevel);
        Assert.False(config.SyncStateWrites);
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
}
