using System.Text;
using System.Text.Json;
using CsCheck;
using Fathom.Agent.Protocol.Tests.Fuzz;

namespace Fathom.Agent.Protocol.Tests.Messages;

/// <summary>
/// The plugin's hand-written side of the wire (<see cref="AgentRequestWriter"/>, <see cref="AgentReplyReader"/>)
/// pinned against the source-generated serializer the agent uses: the same bytes for every request, the
/// same reply for every payload the hand reader accepts — and it gives up on everything else.
/// </summary>
public sealed class HandWrittenCodecTests
{
    private static byte[] Generated(AgentRequest request) =>
        JsonSerializer.SerializeToUtf8Bytes(request, AgentJsonContext.Default.AgentRequest);

    private static byte[] Generated(AgentReply reply) =>
        JsonSerializer.SerializeToUtf8Bytes(reply, AgentJsonContext.Default.AgentReply);

    private static string Text(byte[] bytes) => Encoding.UTF8.GetString(bytes);

    public static TheoryData<AgentRequest> Requests() =>
    [
        new AllocateRequest
        {
            Network = "fathom-net", ContainerId = "c0ffee", IfName = "eth0", NetnsPath = "/var/run/netns/p1",
            RequestedMode = AllocationMode.Shared, FallbackAllowed = true,
            Pod = new PodIdentity { Namespace = "default", Name = "web-1", Uid = "u-1" },
        },
        new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0" },
        new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0", RequestedMode = AllocationMode.Underlay },
        new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0", RequestedMode = AllocationMode.HostGw },
        new AllocateRequest
        {
            Network = "n", ContainerId = "c", IfName = "eth0", RequestedMode = AllocationMode.Overlay,
            Pod = new PodIdentity { Namespace = "ns", Name = "p" },
        },
        // Everything the default encoder escapes: quotes, backslash, HTML-sensitive, control, non-ASCII, a surrogate pair.
        new AllocateRequest
        {
            Network = "n", ContainerId = "c", IfName = "eth\"0\\", NetnsPath = "/run/netns/<a&b>+'`\u00e9\u4e2d\ud83d\ude00\t\u007f",
        },
        new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0", Version = 7 },
        new ReleaseRequest { Network = "n", ContainerId = "c", IfName = "eth0" },
        new CheckRequest { Network = "n\u00fc", ContainerId = "c", IfName = "eth0" },
        new GcRequest { Network = "n", ValidAttachments = [] },
        new GcRequest
        {
            Network = "n",
            ValidAttachments = [new AttachmentRef { ContainerId = "a", IfName = "eth0" }, new AttachmentRef { ContainerId = "b<", IfName = "net1" }],
        },
        new StatusRequest(),
    ];

    [Theory]
    [MemberData(nameof(Requests))]
    public void Every_request_is_the_serializers_bytes(AgentRequest request)
    {
        var written = AgentRequestWriter.TryWrite(request);
        Assert.NotNull(written);
        Assert.Equal(Text(Generated(request)), Text(written));
        Assert.Equal(Generated(request), AgentMessages.Serialize(request));
    }

    [Fact]
    public void What_the_writer_does_not_know_goes_to_the_serializer()
    {
        var undefined = new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0", RequestedMode = (AllocationMode)9 };
        Assert.Null(AgentRequestWriter.TryWrite(undefined));
        Assert.Equal(Generated(undefined), AgentMessages.Serialize(undefined));
        Assert.Null(AgentRequestWriter.TryWrite(new ReleaseRequest { Network = null!, ContainerId = "c", IfName = "eth0" }));
    }

    private static readonly AgentReply[] HotReplies =
    [
        new AllocatedReply { Allocation = FakeAgentService.Shared },
        new AllocatedReply { Allocation = FakeAgentService.Underlay },
        new AllocatedReply { Allocation = FakeAgentService.Underlay with { NodeRoutes = [] } },
        new AllocatedReply { Allocation = FakeAgentService.Underlay with { NodeRoutes = ["10.0.0.12/32", "10.0.0.13/32"] } },
        new AllocatedReply
        {
            Allocation = new HostGwAllocation { EniId = "", Gateway = "169.254.1.1", Address = "10.244.0.9/32", Subnet = "10.244.0.0/24", HostVeth = "fthx", Mtu = 1500 },
        },
        new AllocatedReply
        {
            Allocation = new OverlayAllocation { EniId = "", Gateway = "169.254.1.1", Address = "10.245.0.9/32", Subnet = "10.245.0.0/24", HostVeth = "fth\u00e9", Mtu = 1450 },
        },
        new DoneReply(),
        new DoneReply { Released = [new AttachmentRef { ContainerId = "a", IfName = "eth0" }, new AttachmentRef { ContainerId = "b", IfName = "net\"1" }] },
    ];

    public static TheoryData<AgentReply> Replies() => [.. HotReplies];

    [Theory]
    [MemberData(nameof(Replies))]
    public void Every_hot_reply_is_read_by_hand_as_the_serializer_reads_it(AgentReply reply)
    {
        var json = Generated(reply);
        var read = AgentReplyReader.TryRead(json);
        Assert.NotNull(read);
        AssertSame(JsonSerializer.Deserialize(json, AgentJsonContext.Default.AgentReply)!, read);
        AssertSame(reply, AgentMessages.ParseReply(json));
    }

    [Theory]
    // Members in any order, the discriminators last, unknown members of any shape skipped, escaped names, whitespace.
    [InlineData("""{"version":1,"allocation":{"hostVeth":"v","routeTable":101,"address":"10.0.0.5/32","gateway":"10.0.0.1","eniId":"eni-1","mode":"shared"},"reply":"allocated"}""")]
    [InlineData("""{"reply":"allocated","x":{"a":[1,{"b":null}]},"allocation":{"mode":"underlay","eniId":"e","gateway":"10.0.0.1","address":"10.0.0.5/24","mac":"0a:1b:2c:3d:4e:5f","hostDevice":"eth1","mtu":1500,"nodeRoutes":null,"future":true},"version":1}""")]
    [InlineData(""" { "r\u0065ply" : "done" , "version" : 1 , "released" : [ { "ifName" : "eth0" , "containerId" : "c" , "z" : [] } ] } """)]
    public void Any_order_and_unknown_members_read_as_the_serializer_reads_them(string text)
    {
        var json = Encoding.UTF8.GetBytes(text);
        var read = AgentReplyReader.TryRead(json);
        Assert.NotNull(read);
        AssertSame(JsonSerializer.Deserialize(json, AgentJsonContext.Default.AgentReply)!, read);
    }

    [Theory]
    [InlineData("""{"version":1,"reply":"error","code":"TryAgainLater","message":"m"}""")]
    [InlineData("""{"version":1,"reply":"status","status":{}}""")]
    [InlineData("""{"version":1,"reply":"allocated"}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":null}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"shared","eniId":"e","gateway":"g","address":"a","hostVeth":"v"}}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"shared","eniId":null,"gateway":"g","address":"a","routeTable":1,"hostVeth":"v"}}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"shared","eniId":"e","gateway":"g","address":"a","routeTable":1.5,"hostVeth":"v"}}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"shared","mode":"shared","eniId":"e","gateway":"g","address":"a","routeTable":1,"hostVeth":"v"}}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"bridge","eniId":"e","gateway":"g","address":"a"}}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"$type":"x","mode":"shared","eniId":"e","gateway":"g","address":"a","routeTable":1,"hostVeth":"v"}}""")]
    [InlineData("""{"version":1,"reply":"allocated","allocation":{"mode":"underlay","eniId":"e","gateway":"g","address":"a","mac":"m","hostDevice":"d","mtu":1,"nodeRoutes":[null]}}""")]
    [InlineData("""{"version":1,"reply":"done","released":null}""")]
    [InlineData("""{"version":1,"reply":"done","released":[{"containerId":"c"}]}""")]
    [InlineData("""{"version":1,"reply":"done","reply":"done"}""")]
    [InlineData("""{"version":1,"reply":"done"} trailing""")]
    [InlineData("""{"version":1,"reply":"done"}{}""")]
    [InlineData("""{"version":1,"reply":"done" // a comment""" + "\n}")]
    [InlineData("""{"version":"1","reply":"done"}""")]
    [InlineData("""{"version":1,"reply":1}""")]
    [InlineData("""[{"version":1,"reply":"done"}]""")]
    public void Everything_else_is_left_to_the_serializer(string text) =>
        Assert.Null(AgentReplyReader.TryRead(Encoding.UTF8.GetBytes(text)));

    [Fact]
    public void A_string_that_is_not_UTF8_is_left_to_the_serializer()
    {
        byte[] json = [.. """{"version":1,"reply":"done","released":[{"containerId":"""u8, (byte)'"', 0xC3, 0x28, (byte)'"', .. ""","ifName":"e"}]}"""u8];
        Assert.Null(AgentReplyReader.TryRead(json));
    }

    /// <summary>
    /// The pin that matters: whatever the hand reader accepts, valid or mutated or random, the
    /// serializer reads too, and to the same reply.
    /// </summary>
    [Fact]
    public void Whatever_the_hand_reader_accepts_the_serializer_reads_the_same() =>
        Gen.OneOf(ProtocolGen.Payload, ProtocolGen.Mutated, Gen.OneOfConst([.. HotReplies.Select(Generated)]))
            .Sample(json =>
            {
                if (AgentReplyReader.TryRead(json) is not { } read)
                    return;
                AssertSame(JsonSerializer.Deserialize(json, AgentJsonContext.Default.AgentReply)!, read);
            }, iter: 3000);

    // Records compare lists by reference: compare what the serializer makes of each.
    private static void AssertSame(AgentReply expected, AgentReply actual)
    {
        Assert.Equal(expected.GetType(), actual.GetType());
        Assert.Equal(Text(Generated(expected)), Text(Generated(actual)));
    }
}
