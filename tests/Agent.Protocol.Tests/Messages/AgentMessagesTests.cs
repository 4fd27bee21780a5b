using System.Text;
using System.Text.Json;

namespace Fathom.Agent.Protocol.Tests.Messages;

public sealed class AgentMessagesTests
{
    private static readonly AllocateRequest Allocate = new()
    {
        Network = "fathom-net", ContainerId = "c0ffee", IfName = "eth0", NetnsPath = "/var/run/netns/p1",
        RequestedMode = AllocationMode.Shared, FallbackAllowed = true,
        Pod = new PodIdentity { Namespace = "default", Name = "web-1", Uid = "u-1" },
    };

    public static TheoryData<AgentRequest> Requests() =>
    [
        Allocate,
        new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0" },
        new ReleaseRequest { Network = "n", ContainerId = "c", IfName = "eth0" },
        new CheckRequest { Network = "n", ContainerId = "c", IfName = "eth0" },
        new StatusRequest(),
    ];

    [Theory]
    [MemberData(nameof(Requests))]
    public void Requests_round_trip(AgentRequest request)
    {
        var parsed = AgentMessages.ParseRequest(AgentMessages.Serialize(request));
        Assert.Equal(request, parsed);
    }

    [Fact]
    public void Gc_round_trips_its_attachments()
    {
        var gc = new GcRequest { Network = "n", ValidAttachments = [new AttachmentRef { ContainerId = "a", IfName = "eth0" }] };
        var parsed = Assert.IsType<GcRequest>(AgentMessages.ParseRequest(AgentMessages.Serialize(gc)));
        Assert.Equal(gc.ValidAttachments, parsed.ValidAttachments);
    }

    [Fact]
    public void The_wire_shape_is_the_documented_one()
    {
        using var json = JsonDocument.Parse(AgentMessages.Serialize(Allocate));
        var root = json.RootElement;
        Assert.Equal("allocate", root.GetProperty("op").GetString());
        Assert.Equal(AgentProtocol.Version, root.GetProperty("version").GetInt32());
        Assert.Equal("shared", root.GetProperty("requestedMode").GetString());
        Assert.Equal("c0ffee", root.GetProperty("containerId").GetString());
        Assert.Equal("web-1", root.GetProperty("pod").GetProperty("name").GetString());

        using var reply = JsonDocument.Parse(AgentMessages.Serialize(new AllocatedReply { Allocation = FakeAgentService.Underlay }));
        Assert.Equal("allocated", reply.RootElement.GetProperty("reply").GetString());
        var allocation = reply.RootElement.GetProperty("allocation");
        Assert.Equal("underlay", allocation.GetProperty("mode").GetString());
        Assert.Equal("eth2", allocation.GetProperty("hostDevice").GetString());
        Assert.Equal(9001, allocation.GetProperty("mtu").GetInt32());
    }

    [Fact]
    public void Replies_round_trip()
    {
        AgentReply[] replies =
        [
            new AllocatedReply { Allocation = FakeAgentService.Shared },
            new AllocatedReply { Allocation = FakeAgentService.Underlay },
            new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = "ENI limit reached", Details = "t3.small: 3" },
        ];
        foreach (var reply in replies)
            Assert.Equal(reply, AgentMessages.ParseReply(AgentMessages.Serialize(reply)));
        var status = Assert.IsType<StatusReply>(AgentMessages.ParseReply(AgentMessages.Serialize(new StatusReply
        {
            Status = new AgentStatus
            {
                AgentVersion = "1", Time = DateTimeOffset.UnixEpoch, CoolingIps = 2,
                Allocations = [new AllocationStatus { Network = "n", ContainerId = "c", IfName = "eth0", Allocation = FakeAgentService.Shared, State = "pending", Since = DateTimeOffset.UnixEpoch }],
            },
        })));
        Assert.Equal(2, status.Status.CoolingIps);
        Assert.Equal(FakeAgentService.Shared, status.Status.Allocations.Single().Allocation);
    }

    [Fact]
    public void The_discriminator_may_come_after_the_fields()
    {
        var json = """{"version":1,"network":"n","containerId":"c","ifName":"eth0","op":"release"}"""u8;
        Assert.IsType<ReleaseRequest>(AgentMessages.ParseRequest(json));
    }

    [Theory]
    [InlineData("""{"version":2,"op":"status"}""", AgentErrorCode.ProtocolVersionMismatch, "speaks agent protocol version 2")]
    [InlineData("""{"version":0,"op":"status"}""", AgentErrorCode.ProtocolVersionMismatch, "version 0")]
    [InlineData("""{"op":"status"}""", AgentErrorCode.MalformedMessage, "no 'version'")]
    [InlineData("""{"version":"1","op":"status"}""", AgentErrorCode.MalformedMessage, "'version' is not an integer")]
    [InlineData("""{"version":1}""", AgentErrorCode.MalformedMessage, "malformed request")]
    [InlineData("""{"version":1,"op":"dance"}""", AgentErrorCode.MalformedMessage, "malformed request")]
    [InlineData("""{"version":1,"op":"release","network":"n","ifName":"eth0"}""", AgentErrorCode.MalformedMessage, "containerId")]
    [InlineData("""{"version":1,"op":"release","network":"n","containerId":null,"ifName":"eth0"}""", AgentErrorCode.MalformedMessage, "malformed request")]
    [InlineData("""{"version":1,"op":"gc","network":"n","validAttachments":[null]}""", AgentErrorCode.MalformedMessage, "malformed")]
    [InlineData("""{"version":1,"op":"allocate","network":"n","containerId":"c","ifName":"e","requestedMode":"bridge"}""", AgentErrorCode.MalformedMessage, "malformed request")]
    [InlineData("""[1,2]""", AgentErrorCode.MalformedMessage, "not a JSON object")]
    [InlineData("""{"version":1,"op":"status""", AgentErrorCode.MalformedMessage, "malformed request")]
    [InlineData("""null""", AgentErrorCode.MalformedMessage, "not a JSON object")]
    public void Bad_requests_are_refused_clearly(string json, AgentErrorCode code, string says)
    {
        var e = Assert.Throws<AgentException>(() => AgentMessages.ParseRequest(Encoding.UTF8.GetBytes(json)));
        Assert.Equal(code, e.Code);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"shared","eniId":"eni-1","gateway":"10.0.0.1","address":"10.0.0.5/24","routeTable":101,"hostVeth":"v"}}""", "not a /32")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"shared","eniId":"eni-1","gateway":"10.0.0.1","address":"10.0.0.5/32","routeTable":254,"hostVeth":"v"}}""", "routeTable 254")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"underlay","eniId":"eni-1","gateway":"gw","address":"10.0.0.5/24","mac":"0a:1b:2c:3d:4e:5f","hostDevice":"eth1","mtu":1500}}""", "gateway 'gw'")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"underlay","eniId":"eni-1","gateway":"10.0.0.1","address":"10.0.0.5/24","mac":"0a:1b:2c:3d:4e","hostDevice":"eth1","mtu":1500}}""", "mac")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"underlay","eniId":"eni-1","gateway":"10.0.0.1","address":"10.0.0.5","mac":"0a:1b:2c:3d:4e:5f","hostDevice":"eth1","mtu":1500}}""", "prefix length")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"underlay","eniId":"eni-1","gateway":"10.0.0.1","address":"10.0.0.5/24","mac":"0a:1b:2c:3d:4e:5f","hostDevice":"a-name-far-too-long","mtu":1500}}""", "hostDevice")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"underlay","eniId":"eni-1","gateway":"10.0.0.1","address":"10.0.0.5/24","mac":"0a:1b:2c:3d:4e:5f","hostDevice":"eth1","mtu":20}}""", "mtu 20")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"bridge","eniId":"eni-1"}}""", "malformed reply")]
    [InlineData("""{"version":1,"reply":"allocated"}""", "malformed reply")]
    [InlineData("""{"version":3,"reply":"done"}""", "fathom-agent speaks agent protocol version 3, this plugin speaks version 1")]
    public void Bad_replies_are_one_exception_with_a_clear_message(string json, string says)
    {
        var e = Assert.Throws<AgentException>(() => AgentMessages.ParseReply(Encoding.UTF8.GetBytes(json)));
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.True(e.Code is AgentErrorCode.MalformedMessage or AgentErrorCode.ProtocolVersionMismatch);
    }

    [Fact]
    public void Unknown_fields_of_the_same_version_are_ignored()
    {
        var json = """{"version":1,"reply":"done","released":[],"futureField":{"a":[1,2,3]}}"""u8;
        Assert.IsType<DoneReply>(AgentMessages.ParseReply(json));
    }
}

public sealed class AgentMessageDefaultsTests
{
    [Fact]
    public void Optional_lists_missing_from_the_JSON_are_empty_not_null()
    {
        var done = Assert.IsType<DoneReply>(AgentMessages.ParseReply("""{"version":1,"reply":"done"}"""u8));
        Assert.Empty(done.Released);
        var status = Assert.IsType<StatusReply>(AgentMessages.ParseReply(
            """{"version":1,"reply":"status","status":{"agentVersion":"x","time":"2026-01-01T00:00:00Z"}}"""u8));
        Assert.Empty(status.Status.Pools);
        Assert.Empty(status.Status.Enis);
        Assert.Empty(status.Status.Allocations);
        Assert.Empty(status.Status.Subnets); // an agent older than the subnet rows
        var subnet = Assert.Single(Assert.IsType<StatusReply>(AgentMessages.ParseReply(
            """{"version":1,"reply":"status","status":{"agentVersion":"x","time":"2026-01-01T00:00:00Z","subnets":[{"mode":"host-gw"}]}}"""u8)).Status.Subnets);
        Assert.Empty(subnet.Pods);
    }
}
