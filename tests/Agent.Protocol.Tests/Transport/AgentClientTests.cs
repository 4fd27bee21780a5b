using System.Diagnostics;
using System.Text;

namespace Fathom.Agent.Protocol.Tests.Transport;

public sealed class AgentClientTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string SocketPath => _dir["agent.sock"];

    public void Dispose() => _dir.Dispose();

    private AgentException StatusAgainst(Func<byte[]?> answer, TimeSpan? timeout = null, TimeSpan? holdOpen = null) =>
        StatusAgainst(answer, out _, timeout, holdOpen);

    private AgentException StatusAgainst(Func<byte[]?> answer, out TimeSpan took, TimeSpan? timeout = null, TimeSpan? holdOpen = null)
    {
        using var server = new RawServer(SocketPath, answer, holdOpen);
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<AgentException>(() => new AgentClient(SocketPath, timeout ?? TimeSpan.FromSeconds(10)).Status());
        took = clock.Elapsed;
        return e;
    }

    [Fact]
    public void No_socket_is_try_again_later_naming_the_path()
    {
        var e = Assert.Throws<AgentException>(() => new AgentClient(SocketPath).Status());
        Assert.Equal(AgentErrorCode.TryAgainLater, e.Code);
        Assert.Equal($"fathom-agent is not running (no socket at {SocketPath})", e.Message);
    }

    [Fact]
    public void A_silent_agent_is_try_again_later_after_the_deadline()
    {
        var e = StatusAgainst(() => null, out var took, TimeSpan.FromMilliseconds(300), holdOpen: TimeSpan.FromSeconds(3));
        Assert.Equal(AgentErrorCode.TryAgainLater, e.Code);
        Assert.Contains("did not answer within 0.3 s", e.Message, StringComparison.Ordinal);
        Assert.InRange(took, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2.5));
    }

    [Fact]
    public void An_agent_that_hangs_up_is_try_again_later()
    {
        var e = StatusAgainst(() => null);
        Assert.Equal(AgentErrorCode.TryAgainLater, e.Code);
        Assert.Contains("closed the connection", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_reply_is_malformed()
    {
        var e = StatusAgainst(() => [0, 0, 0, 40, (byte)'{', (byte)'"']);
        Assert.Equal(AgentErrorCode.MalformedMessage, e.Code);
        Assert.Contains("truncated frame: the payload has 2 of 40 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_oversized_reply_is_refused_before_it_is_read()
    {
        var e = StatusAgainst(() => [0x10, 0, 0, 0]);
        Assert.Equal(AgentErrorCode.MalformedMessage, e.Code);
        Assert.Contains("exceeds the limit", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reply_that_is_not_json_is_malformed()
    {
        var e = StatusAgainst(() => AgentFrame.Encode(Encoding.UTF8.GetBytes("<html>502</html>")));
        Assert.Equal(AgentErrorCode.MalformedMessage, e.Code);
        Assert.StartsWith("malformed reply", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_reply_of_the_wrong_kind_is_malformed()
    {
        var e = StatusAgainst(() => AgentFrame.Encode(AgentMessages.Serialize(new DoneReply())));
        Assert.Equal(AgentErrorCode.MalformedMessage, e.Code);
        Assert.Contains("answered StatusRequest with DoneReply", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_newer_agent_is_refused_by_version()
    {
        var e = StatusAgainst(() => AgentFrame.Encode("""{"version":9,"reply":"status","status":{}}"""u8));
        Assert.Equal(AgentErrorCode.ProtocolVersionMismatch, e.Code);
    }
}
