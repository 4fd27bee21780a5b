using System.Buffers.Binary;
using System.Net.Sockets;
using CsCheck;

namespace Fathom.Agent.Protocol.Tests.Fuzz;

/// <summary>
/// Whatever arrives — random bytes, random JSON, valid messages cut or corrupted, frames whose
/// length lies — parsing ends in a message or in <see cref="AgentException"/> with a message, never in
/// any other exception; and the listener answers or hangs up but goes on serving others.
/// </summary>
public sealed class ProtocolFuzzTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void OnlyAgentExceptions(Action parse)
    {
        try
        {
            parse();
        }
        catch (AgentException e)
        {
            Assert.False(string.IsNullOrWhiteSpace(e.Message));
            Assert.True(e.Code is AgentErrorCode.MalformedMessage or AgentErrorCode.ProtocolVersionMismatch, $"code {e.Code}: {e.Message}");
        }
    }

    [Fact]
    public void The_reply_parser_never_fails_any_other_way() =>
        ProtocolGen.Payload.Sample(bytes => OnlyAgentExceptions(() => AgentMessages.ParseReply(bytes)), iter: 3000);

    [Fact]
    public void The_request_parser_never_fails_any_other_way() =>
        ProtocolGen.Payload.Sample(bytes => OnlyAgentExceptions(() => AgentMessages.ParseRequest(bytes)), iter: 3000);

    [Fact]
    public void Frames_with_any_header_are_read_or_refused_clearly() =>
        Gen.Byte.Array[0, 64].Sample(bytes => OnlyAgentExceptions(() =>
            AgentFrame.ReadAsync(new MemoryStream(bytes), 32, CancellationToken.None).AsTask().GetAwaiter().GetResult()), iter: 2000);

    /// <summary>A hostile connection: a frame whose header may lie about its length, or raw bytes, possibly cut short.</summary>
    private static readonly Gen<byte[]> Wire = Gen.OneOf(
        ProtocolGen.Payload.Select(p => p.Length == 0 ? [0, 0, 0, 0] : AgentFrame.Encode(p)),
        Gen.Select(ProtocolGen.Payload, Gen.UInt).Select((p, length) =>
        {
            var frame = new byte[4 + p.Length];
            BinaryPrimitives.WriteUInt32BigEndian(frame, length % 2 == 0 ? (uint)p.Length + (length % 7) : length);
            p.CopyTo(frame, 4);
            return frame;
        }),
        Gen.Byte.Array[0, 16]);

    [Fact]
    public async Task The_listener_survives_anything_a_client_sends()
    {
        var path = _dir["agent.sock"];
        var service = new FakeAgentService();
        var log = new List<string>();
        await using var listener = AgentListener.Start(path, service, new AgentListenerOptions
        {
            AllowedUid = Getuid(),
            ReadTimeout = TimeSpan.FromSeconds(1), // never waited for: each client shuts its side, so a short frame ends at EOF
            MaxFrameBytes = 4096,
            Log = l => { lock (log) log.Add(l); },
        });
        var client = new AgentClient(path, TimeSpan.FromSeconds(10));

        Wire.Sample(bytes =>
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            try
            {
                socket.Send(bytes);
                socket.Shutdown(SocketShutdown.Send); // the client is done: a short frame is truncated, not slow
            }
            catch (SocketException)
            {
                // The agent may hang up on a bad header before the rest is sent.
            }
            socket.ReceiveTimeout = 10_000;
            var received = new MemoryStream();
            var reset = false;
            var buffer = new byte[4096];
            try
            {
                int n;
                while ((n = socket.Receive(buffer)) > 0)
                    received.Write(buffer, 0, n);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.NotConnected)
            {
                reset = true; // the agent hung up on a frame it did not read to the end
            }
            // Whatever came back is whole frames of valid replies.
            received.Position = 0;
            while (true)
            {
                byte[]? reply;
                try
                {
                    reply = AgentFrame.ReadAsync(received, AgentProtocol.MaxFrameBytes, CancellationToken.None).AsTask().GetAwaiter().GetResult();
                }
                catch (AgentException) when (reset)
                {
                    break;
                }
                if (reply is null)
                    break;
                var parsed = AgentMessages.ParseReply(reply);
                if (parsed is ErrorReply error)
                    Assert.False(string.IsNullOrWhiteSpace(error.Message));
            }
        }, iter: 300, threads: 1);

        Assert.Equal("test", client.Status().AgentVersion);
        Assert.True(listener.Rejected > 0);
    }

    [Fact]
    public void The_client_survives_anything_an_agent_sends()
    {
        var path = _dir["agent.sock"];
        byte[] next = [];
        using var server = new RawServer(path, () => Volatile.Read(ref next));
        var client = new AgentClient(path, TimeSpan.FromSeconds(5));
        Wire.Sample(bytes =>
        {
            Volatile.Write(ref next, bytes);
            try
            {
                client.Send(new StatusRequest());
            }
            catch (AgentException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        }, iter: 200, threads: 1);
    }

    private static uint Getuid() => uint.Parse(File.ReadAllLines("/proc/self/status")
        .First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2]);
}
