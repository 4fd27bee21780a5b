using System.Text;
using Fathom.Agent.Protocol;
using Fathom.Cni;

namespace Fathom.Datapath.Shared.Tests;

/// <summary>The agent-backed modes' config section and the pod's choice of mode, as pure logic.</summary>
public sealed class AgentNetworkConfigTests
{
    private static NetworkConfig Config(string fields) =>
        NetworkConfig.Parse(Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"vpc","type":"fathom"{{fields}}}"""));

    private static CniRequest Request(NetworkConfig config, string? args = null) =>
        new() { Command = CniCommand.Add, Config = config, Args = CniArgs.Parse(args) };

    [Fact]
    public void Defaults_are_the_agents_socket_and_the_networks_own_mode_only()
    {
        var c = AgentNetworkConfig.Parse(Config(""), AllocationMode.Shared);
        Assert.Equal("vpc", c.Network);
        Assert.Equal(AgentProtocol.DefaultSocketPath, c.AgentSocket);
        Assert.Equal([AllocationMode.Shared], c.Modes);
        Assert.Null(c.Fallback);
        Assert.Equal(AllocationMode.Shared, c.RequestedBy(Request(Config(""))));
    }

    [Theory]
    [InlineData(""","agentSocket":"run/agent.sock" """, "agentSocket")]
    [InlineData(""","agentSocket":5""", "agentSocket")]
    [InlineData(""","modes":["underlay","warp"]""", "warp")]
    [InlineData(""","modes":["shared"]""", "network's own mode")]
    [InlineData(""","modes":"shared" """, "modes")]
    [InlineData(""","fallback":"bridge" """, "fallback")]
    public void A_malformed_field_is_7_naming_it(string fields, string named)
    {
        var e = Assert.Throws<CniException>(() => AgentNetworkConfig.Parse(Config(fields), AllocationMode.Underlay));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains(named, e.Message + e.Details);
    }

    [Fact]
    public void A_pod_asks_by_cni_args_before_runtime_config_and_only_within_modes()
    {
        var config = Config(""","modes":["underlay","shared"],"runtimeConfig":{"fathomMode":"underlay"}""");
        var c = AgentNetworkConfig.Parse(config, AllocationMode.Underlay);
        Assert.Equal(AllocationMode.Shared, c.RequestedBy(Request(config, "FATHOM_MODE=shared")));
        Assert.Equal(AllocationMode.Underlay, c.RequestedBy(Request(config)));

        var only = Config(""","runtimeConfig":{"fathomMode":"shared"}""");
        var refused = Assert.Throws<CniException>(() => AgentNetworkConfig.Parse(only, AllocationMode.Underlay).RequestedBy(Request(only)));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, refused.Code);
        Assert.Contains("runtimeConfig.fathomMode", refused.Message);
    }

    [Theory]
    [InlineData(AgentErrorCode.TryAgainLater, 11)]
    [InlineData(AgentErrorCode.UnknownContainer, 3)]
    [InlineData(AgentErrorCode.ProtocolVersionMismatch, 110)]
    [InlineData(AgentErrorCode.MalformedMessage, 111)]
    [InlineData(AgentErrorCode.PermissionDenied, 112)]
    [InlineData(AgentErrorCode.Internal, 113)]
    public void The_agents_codes_pass_through_below_100_and_move_past_fathoms_own_above(AgentErrorCode agent, int cni) =>
        Assert.Equal(cni, (int)AgentErrorCodes.ToCni(agent));
}
