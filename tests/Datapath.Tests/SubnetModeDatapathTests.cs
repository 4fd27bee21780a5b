using System.Text;
using Fathom.Agent.Protocol;
using Fathom.Cni;

namespace Fathom.Datapath.Tests;

/// <summary>
/// The plugin entry host-gw and overlay share: its config section, and how the agent's answers
/// and failures become CNI results and errors. The wiring itself is tested end to end with the
/// real agent (tests/Plugin.Tests/Agent/SubnetModesTests.cs) and in the lab.
/// </summary>
public sealed class SubnetModeDatapathTests : IDisposable
{
    private sealed class HostGwLike(SubnetModeConfig config) : SubnetModeDatapath(config, AllocationMode.HostGw);

    private readonly string _dir = Directory.CreateTempSubdirectory(TestNetns.Prefix + "subnet-mode-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static NetworkConfig Config(string fields) =>
        NetworkConfig.Parse(Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"pods","type":"fathom","mode":"host-gw"{{fields}}}"""));

    private static CniRequest Request(CniCommand command, string? netns = null) =>
        new() { Command = command, Config = Config(""), ContainerId = "c1", IfName = "eth0", NetnsPath = netns };

    [Fact]
    public void The_section_defaults_to_the_agents_socket_and_names_the_network()
    {
        var c = SubnetModeConfig.Parse(Config(""));
        Assert.Equal("pods", c.Network);
        Assert.Equal(AgentProtocol.DefaultSocketPath, c.AgentSocket);
        Assert.Equal("/run/x/agent.sock", SubnetModeConfig.Parse(Config(""","agentSocket":"/run/x/agent.sock" """)).AgentSocket);
    }

    [Theory]
    [InlineData(""","agentSocket":"run/agent.sock" """)]
    [InlineData(""","agentSocket":"/run/a\u0000b" """)]
    [InlineData(""","agentSocket":5""")]
    public void A_malformed_agent_socket_is_7_naming_it(string fields)
    {
        var e = Assert.Throws<CniException>(() => SubnetModeConfig.Parse(Config(fields)));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains("agentSocket", e.Message + e.Details);
    }

    [Theory]
    [InlineData(AgentErrorCode.TryAgainLater, 11)]
    [InlineData(AgentErrorCode.UnknownContainer, 3)]
    [InlineData(AgentErrorCode.ProtocolVersionMismatch, 110)]
    [InlineData(AgentErrorCode.MalformedMessage, 111)]
    [InlineData(AgentErrorCode.PermissionDenied, 112)]
    [InlineData(AgentErrorCode.Internal, 113)]
    public void The_agents_codes_pass_through_below_100_and_move_past_the_datapaths_own_above(AgentErrorCode agent, int cni)
    {
        var e = Assert.Throws<CniException>(() => SubnetAgent.Call("ask the agent", () => throw new AgentException(agent, "the agent said no", "why")));
        Assert.Equal(cni, (int)e.Code);
        Assert.Equal("the agent said no", e.Message);
        Assert.Equal("why", e.Details);
    }

    [Fact]
    public void Without_an_agent_del_and_gc_are_11_and_status_is_not_available()
    {
        var datapath = new HostGwLike(new SubnetModeConfig("pods", Path.Combine(_dir, "agent.sock")));
        Assert.Equal(CniErrorCode.TryAgainLater, Assert.Throws<CniException>(() => datapath.Delete(Request(CniCommand.Del), null)).Code);
        Assert.Equal(CniErrorCode.TryAgainLater, Assert.Throws<CniException>(() => datapath.GarbageCollect(new HashSet<(string, string)>())).Code);
        Assert.Equal(CniErrorCode.NotAvailable, datapath.Status().Problem);
        Assert.Contains("releasing the address failed too", SubnetAgent.Release(new AgentClient(Path.Combine(_dir, "agent.sock")), "pods", Request(CniCommand.Add)));
    }

    [Fact]
    public void Add_without_a_netns_is_4_before_the_agent_is_asked()
    {
        var datapath = new HostGwLike(new SubnetModeConfig("pods", Path.Combine(_dir, "agent.sock")));
        var e = Assert.Throws<CniException>(() => datapath.Add(Request(CniCommand.Add), () => null, _ => { }));
        Assert.Equal(CniErrorCode.InvalidEnvironment, e.Code);
    }

    /// <summary>An agent that answers ADD with another mode's allocation (one of another release) and counts releases.</summary>
    private sealed class OtherModeAgent : IAgentService
    {
        public int Releases;

        public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken) =>
            ValueTask.FromResult<AgentReply>(new AllocatedReply
            {
                Allocation = new OverlayAllocation
                {
                    EniId = "", Gateway = "169.254.1.1", Address = "10.244.1.5/32", Subnet = "10.244.1.0/24", HostVeth = "fdx0", Mtu = 1450,
                },
            });

        public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Releases);
            return ValueTask.FromResult<AgentReply>(new DoneReply());
        }

        public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken) => ValueTask.FromResult<AgentReply>(new DoneReply());

        public ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken) => ValueTask.FromResult<AgentReply>(new DoneReply());

        public ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    [PrivilegedFact("ip")]
    public async Task An_allocation_of_another_mode_is_released_and_11_and_the_pod_keeps_nothing()
    {
        using var pod = TestNetns.Create("sm");
        var agent = new OtherModeAgent();
        var socket = Path.Combine(_dir, "agent.sock");
        await using var listener = AgentListener.Start(socket, agent, new AgentListenerOptions());
        var datapath = new HostGwLike(new SubnetModeConfig("pods", socket));

        var e = Assert.Throws<CniException>(() => datapath.Add(Request(CniCommand.Add, pod.Path), () => null, _ => Assert.Fail("nothing is recorded")));

        Assert.Equal(CniErrorCode.TryAgainLater, e.Code);
        Assert.Contains("overlay allocation where host-gw was asked", e.Message);
        Assert.Equal(1, agent.Releases);
        Assert.DoesNotContain("eth0", Shell.IpIn(pod.Name, "link", "show"));
    }
}
