using System.Net.Sockets;
using System.Text;

namespace Fathom.Agent.Protocol.Tests.Transport;

public sealed class AgentListenerTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly FakeAgentService _service = new();
    private readonly List<string> _log = [];

    private string SocketPath => _dir["run/agent.sock"];

    private AgentListenerOptions Options(uint uid = 0, TimeSpan? readTimeout = null) => new()
    {
        AllowedUid = uid,
        ReadTimeout = readTimeout ?? TimeSpan.FromSeconds(5),
        Log = line => { lock (_log) _log.Add(line); },
    };

    private AgentClient Client(TimeSpan? timeout = null) => new(SocketPath, timeout ?? TimeSpan.FromSeconds(10));

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Every_request_kind_reaches_the_service_and_its_reply_comes_back()
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        var client = Client();

        Assert.Equal(FakeAgentService.Shared, client.Allocate(new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0" }));
        Assert.Equal(FakeAgentService.Underlay, client.Allocate(new AllocateRequest { Network = "n", ContainerId = "c", IfName = "eth0", RequestedMode = AllocationMode.Underlay }));
        client.Release(new ReleaseRequest { Network = "n", ContainerId = "c", IfName = "eth0" });
        client.Check(new CheckRequest { Network = "n", ContainerId = "known", IfName = "eth0" });
        Assert.Equal("gone", client.Gc(new GcRequest { Network = "n", ValidAttachments = [] }).Single().ContainerId);
        Assert.Equal("c1", client.Status().Allocations.Single().ContainerId);
        Assert.Equal(6, _service.Requests.Count);
        Assert.Equal(6, listener.Requests);
    }

    /// <summary>This process's effective uid, from /proc (the peer the listener sees).</summary>
    private static uint Getuid() => uint.Parse(File.ReadAllLines("/proc/self/status")
        .First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2]);

    [Fact]
    public async Task Errors_of_the_service_come_back_with_their_code()
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        var client = Client();

        var unknown = Assert.Throws<AgentException>(() => client.Check(new CheckRequest { Network = "n", ContainerId = "x", IfName = "eth0" }));
        Assert.Equal(AgentErrorCode.UnknownContainer, unknown.Code);
        var empty = Assert.Throws<AgentException>(() => client.Allocate(new AllocateRequest { Network = "n", ContainerId = "empty", IfName = "eth0" }));
        Assert.Equal(AgentErrorCode.TryAgainLater, empty.Code);
        Assert.Contains("subnet-1 is full", empty.Message, StringComparison.Ordinal);
        var boom = Assert.Throws<AgentException>(() => client.Allocate(new AllocateRequest { Network = "n", ContainerId = "boom", IfName = "eth0" }));
        Assert.Equal(AgentErrorCode.Internal, boom.Code);
        Assert.Contains("kaboom", boom.Message, StringComparison.Ordinal);
        // The listener goes on serving after a handler threw.
        client.Release(new ReleaseRequest { Network = "n", ContainerId = "c", IfName = "eth0" });
    }

    [Fact]
    public async Task The_socket_is_0600_in_a_0700_directory_and_is_removed_on_stop()
    {
        var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(SocketPath));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_dir["run"]));
        await listener.DisposeAsync();
        Assert.False(File.Exists(SocketPath));
        var e = Assert.Throws<AgentException>(() => Client().Status());
        Assert.Equal(AgentErrorCode.TryAgainLater, e.Code);
        Assert.Equal($"fathom-agent is not running (no socket at {SocketPath})", e.Message);
    }

    [Fact]
    public async Task A_stale_socket_of_a_killed_agent_is_replaced()
    {
        Directory.CreateDirectory(_dir["run"]);
        // Bound and not listening answers connect(2) with ECONNREFUSED, as the file a SIGKILLed
        // agent leaves does. (Kept open: .NET removes the file of a socket it binds when disposed.)
        using var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        dead.Bind(new UnixDomainSocketEndPoint(SocketPath));
        Assert.True(File.Exists(SocketPath));
        var refused = Assert.Throws<AgentException>(() => Client().Status());
        Assert.Equal(AgentErrorCode.TryAgainLater, refused.Code);
        Assert.Equal($"fathom-agent is not running (nothing listens on {SocketPath})", refused.Message);

        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        Assert.Equal("test", Client().Status().AgentVersion);
        Assert.Contains(_log, l => l.Contains("removed stale socket", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_agent_on_the_same_path_is_refused_and_the_first_keeps_serving()
    {
        await using var first = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        var e = Assert.Throws<InvalidOperationException>(() => AgentListener.Start(SocketPath, _service, Options(Getuid())));
        Assert.Contains("another fathom-agent serves", e.Message, StringComparison.Ordinal);
        Assert.Equal("test", Client().Status().AgentVersion);
    }

    [Fact]
    public async Task A_live_listener_without_the_lock_is_not_taken_over()
    {
        Directory.CreateDirectory(_dir["run"]);
        using var other = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        other.Bind(new UnixDomainSocketEndPoint(SocketPath));
        other.Listen(1);
        var e = Assert.Throws<InvalidOperationException>(() => AgentListener.Start(SocketPath, _service, Options(Getuid())));
        Assert.Contains("another process listens", e.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(SocketPath));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_peer_of_another_uid_is_refused_with_permission_denied()
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(uid: Getuid() + 4242));
        var e = Assert.Throws<AgentException>(() => Client().Status());
        Assert.Equal(AgentErrorCode.PermissionDenied, e.Code);
        Assert.Contains($"uid {Getuid()} may not use fathom-agent", e.Message, StringComparison.Ordinal);
        Assert.Empty(_service.Requests);
        Assert.Equal(1, listener.Rejected);
    }

    [Fact]
    public async Task One_connection_may_carry_several_requests()
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        using var socket = Connect();
        using var stream = new NetworkStream(socket);
        for (var i = 0; i < 3; i++)
        {
            stream.Write(AgentFrame.Encode(AgentMessages.Serialize(new StatusRequest())));
            var reply = await AgentFrame.ReadAsync(stream, AgentProtocol.MaxFrameBytes, CancellationToken.None);
            Assert.IsType<StatusReply>(AgentMessages.ParseReply(reply));
        }
    }

    [Fact]
    public async Task A_stuck_client_is_cut_off_and_does_not_hold_up_others()
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid(), readTimeout: TimeSpan.FromSeconds(1)));
        using var stuck = Connect();
        stuck.Send(new byte[] { 0, 0, 0, 50, (byte)'{' }); // half a frame, then silence

        Assert.Equal("test", Client().Status().AgentVersion); // served while the stuck one waits

        stuck.ReceiveTimeout = 10_000;
        Assert.Equal(0, stuck.Receive(new byte[16])); // closed by the agent, no reply to half a frame
        Eventually.True(() => listener.Rejected == 1, "the stuck client counted as rejected");
        lock (_log)
            Assert.Contains(_log, l => l.Contains("sent no complete request within 1 s", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Connections_are_served_concurrently()
    {
        var inside = 0;
        var most = 0;
        var gate = new TaskCompletionSource();
        _service.Before = async (_, ct) =>
        {
            var now = Interlocked.Increment(ref inside);
            InterlockedMax(ref most, now);
            if (now == 4)
                gate.TrySetResult();
            await gate.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
            Interlocked.Decrement(ref inside);
        };
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(() => Client().Status())).ToArray();
        await Task.WhenAll(clients);
        Assert.Equal(4, most);
    }

    [Fact]
    public async Task A_connection_thread_serves_the_next_connection_once_idle()
    {
        var threads = new HashSet<int>();
        _service.Before = (_, _) =>
        {
            lock (threads)
                threads.Add(Environment.CurrentManagedThreadId);
            return Task.CompletedTask;
        };
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("test", Client().Status().AgentVersion);
            Thread.Sleep(20); // the thread that served it parks itself
        }
        // Each request on a dedicated connection thread, not the pool's, and one thread reused
        // rather than a new one started (and waited for) per connection.
        lock (threads)
            Assert.True(threads.Count <= 2, $"{threads.Count} threads served 10 connections one after the other");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0, 3, (byte)'a', (byte)'b', (byte)'c' }, AgentErrorCode.MalformedMessage)]
    [InlineData(new byte[] { 0x7F, 0, 0, 0 }, AgentErrorCode.MalformedMessage)]
    public async Task A_bad_frame_gets_an_error_reply_then_the_connection_closes(byte[] frame, AgentErrorCode code)
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        using var socket = Connect();
        using var stream = new NetworkStream(socket);
        stream.Write(frame);
        var reply = Assert.IsType<ErrorReply>(AgentMessages.ParseReply((await AgentFrame.ReadAsync(stream, AgentProtocol.MaxFrameBytes, CancellationToken.None))!));
        Assert.Equal(code, reply.Code);
        Assert.Null(await AgentFrame.ReadAsync(stream, AgentProtocol.MaxFrameBytes, CancellationToken.None));
        Assert.Equal("test", Client().Status().AgentVersion);
    }

    [Fact]
    public async Task A_request_of_a_newer_protocol_is_refused_by_version()
    {
        await using var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        using var socket = Connect();
        using var stream = new NetworkStream(socket);
        stream.Write(AgentFrame.Encode("""{"version":2,"op":"teleport"}"""u8));
        var reply = Assert.IsType<ErrorReply>(AgentMessages.ParseReply((await AgentFrame.ReadAsync(stream, AgentProtocol.MaxFrameBytes, CancellationToken.None))!));
        Assert.Equal(AgentErrorCode.ProtocolVersionMismatch, reply.Code);
        Assert.Contains("the caller speaks agent protocol version 2, this fathom-agent speaks version 1", reply.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stopping_lets_a_request_in_progress_finish_and_refuses_new_ones()
    {
        var inside = new TaskCompletionSource();
        var finish = new TaskCompletionSource();
        _service.Before = async (_, _) =>
        {
            inside.TrySetResult();
            await finish.Task;
        };
        var listener = AgentListener.Start(SocketPath, _service, Options(Getuid()));
        var inFlight = Task.Run(() => Client().Status());
        await inside.Task.WaitAsync(TimeSpan.FromSeconds(10));

        var stopping = listener.DisposeAsync().AsTask();
        Eventually.True(() => !File.Exists(SocketPath) || Refused(), "new connections refused while stopping");
        Assert.False(stopping.IsCompleted);
        finish.SetResult();

        Assert.Equal("test", (await inFlight.WaitAsync(TimeSpan.FromSeconds(10))).AgentVersion);
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(File.Exists(SocketPath));
    }

    private bool Refused()
    {
        try
        {
            using var socket = Connect();
            return false;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private Socket Connect()
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Connect(new UnixDomainSocketEndPoint(SocketPath));
        return socket;
    }
}
