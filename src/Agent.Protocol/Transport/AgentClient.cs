using System.Diagnostics;

namespace Fathom.Agent.Protocol;

/// <summary>
/// The plugin's side: one connection per request, synchronous (the plugin is a short-lived
/// synchronous process), bounded by one deadline from connect to the last byte of the reply.
/// Every failure is an <see cref="AgentException"/>: code 11 when the agent is not there or too slow
/// (the runtime retries), <see cref="AgentErrorCode.MalformedMessage"/> or
/// <see cref="AgentErrorCode.ProtocolVersionMismatch"/> for a reply that cannot be read, the agent's
/// own code when it answers with an error.
/// </summary>
public sealed class AgentClient
{
    private readonly int _maxReplyBytes;

    /// <summary>A client of the agent at <paramref name="socketPath"/>.</summary>
    /// <param name="socketPath">The agent's socket.</param>
    /// <param name="timeout">Connect-to-reply bound of each request; <see cref="AgentProtocol.DefaultClientTimeout"/> when null.</param>
    /// <param name="maxReplyBytes">The largest reply accepted.</param>
    public AgentClient(string socketPath = AgentProtocol.DefaultSocketPath, TimeSpan? timeout = null,
        int maxReplyBytes = AgentProtocol.MaxFrameBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        SocketPath = socketPath;
        Timeout = timeout ?? AgentProtocol.DefaultClientTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Timeout, TimeSpan.Zero, nameof(timeout));
        _maxReplyBytes = maxReplyBytes;
    }

    /// <summary>The agent's socket.</summary>
    public string SocketPath { get; }

    /// <summary>Connect-to-reply bound of each request.</summary>
    public TimeSpan Timeout { get; }

    /// <summary>ADD: the allocation the agent gave, or <see cref="AgentException"/> with the agent's code.</summary>
    public Allocation Allocate(AllocateRequest request) => Expect<AllocatedReply>(request).Allocation;

    /// <summary>DEL: returns once the agent released the allocation (or had none).</summary>
    public void Release(ReleaseRequest request) => Expect<DoneReply>(request);

    /// <summary>CHECK: returns when the agent holds the allocation; code 3 otherwise.</summary>
    public void Check(CheckRequest request) => Expect<DoneReply>(request);

    /// <summary>GC: the attachments the agent released.</summary>
    public IReadOnlyList<AttachmentRef> Gc(GcRequest request) => Expect<DoneReply>(request).Released;

    /// <summary>The agent's pools, ENIs and allocations.</summary>
    public AgentStatus Status() => Expect<StatusReply>(new StatusRequest()).Status;

    /// <summary>Sends one request and returns the reply as it came, <see cref="ErrorReply"/> included.</summary>
    public AgentReply Send(AgentRequest request)
    {
        using var pending = Begin(request);
        return pending.Receive();
    }

    /// <summary>
    /// ADD in two halves: the request is sent now, the allocation read by
    /// <see cref="PendingRequest.Allocation"/> — the caller works while the agent allocates.
    /// </summary>
    public PendingRequest BeginAllocate(AllocateRequest request) => Begin(request);

    // Connects and sends the request; the reply is read later, within the same deadline.
    private PendingRequest Begin(AgentRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var frame = AgentFrame.Encode(AgentMessages.Serialize(request));
        var deadline = Stopwatch.GetTimestamp() + (long)(Timeout.TotalSeconds * Stopwatch.Frequency);
        var socket = Connect(deadline);
        try
        {
            UnixStreamException? sendFailed = null;
            try
            {
                socket.SendAll(frame, () => RemainingMilliseconds(deadline));
            }
            catch (UnixStreamException e) when (e.Errno is UnixStreamException.EPipe or UnixStreamException.EConnReset)
            {
                // An agent that refuses the caller answers and closes without reading the request
                // (wrong uid): its reply is still there to read.
                sendFailed = e;
            }
            return new PendingRequest(this, request, socket, deadline, sendFailed);
        }
        catch (UnixStreamException e)
        {
            socket.Dispose();
            throw Lost(e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A request sent, its reply not yet read. Disposing it closes the connection.</summary>
    public sealed class PendingRequest : IDisposable
    {
        private readonly AgentClient _client;
        private readonly AgentRequest _request;
        private readonly UnixStream _socket;
        private readonly long _deadline;
        private readonly UnixStreamException? _sendFailed;

        internal PendingRequest(AgentClient client, AgentRequest request, UnixStream socket, long deadline, UnixStreamException? sendFailed)
        {
            _client = client;
            _request = request;
            _socket = socket;
            _deadline = deadline;
            _sendFailed = sendFailed;
        }

        /// <summary>The reply as it came, <see cref="ErrorReply"/> included.</summary>
        public AgentReply Receive()
        {
            try
            {
                Span<byte> header = stackalloc byte[AgentFrame.HeaderBytes];
                var got = _socket.ReceiveAll(header, () => _client.RemainingMilliseconds(_deadline));
                if (got == 0 && _sendFailed is not null)
                    throw _sendFailed;
                if (got == 0)
                    throw new AgentException(AgentErrorCode.TryAgainLater,
                        $"fathom-agent closed the connection on {_client.SocketPath} without a reply");
                if (got < header.Length)
                    throw AgentFrame.Truncated(header.Length, got, "header");
                var payload = new byte[AgentFrame.ParseLength(header, _client._maxReplyBytes)];
                got = _socket.ReceiveAll(payload, () => _client.RemainingMilliseconds(_deadline));
                if (got < payload.Length)
                    throw AgentFrame.Truncated(payload.Length, got, "payload");
                return AgentMessages.ParseReply(payload);
            }
            catch (UnixStreamException e)
            {
                throw _client.Lost(e);
            }
        }

        /// <summary>The allocation the agent gave, or <see cref="AgentException"/> with the agent's code.</summary>
        public Allocation Allocation() => _client.Expect<AllocatedReply>(_request, Receive()).Allocation;

        /// <inheritdoc/>
        public void Dispose() => _socket.Dispose();
    }

    private AgentException Lost(UnixStreamException e) => e.IsTimeout
        ? TimedOut()
        : new AgentException(AgentErrorCode.TryAgainLater,
            $"lost the connection to fathom-agent on {SocketPath}: {e.Message}", innerException: e);

    private T Expect<T>(AgentRequest request) where T : AgentReply => Expect<T>(request, Send(request));

    private T Expect<T>(AgentRequest request, AgentReply received) where T : AgentReply => received switch
    {
        T reply => reply,
        ErrorReply error => throw AgentException.From(error),
        var other => throw new AgentException(AgentErrorCode.MalformedMessage,
            $"fathom-agent answered {request.GetType().Name} with {other.GetType().Name}"),
    };

    // A blocking socket through the system calls (UnixStream): System.Net.Sockets would start its
    // epoll thread in this short-lived process. Bounded by the deadline through SO_SNDTIMEO, which
    // also bounds connect(2) on AF_UNIX when the agent's backlog is full (EAGAIN once it ran out).
    private UnixStream Connect(long deadline)
    {
        while (true)
        {
            try
            {
                return UnixStream.Connect(SocketPath, RemainingMilliseconds(deadline));
            }
            catch (UnixStreamException e) when (e.IsTimeout)
            {
                if (Stopwatch.GetTimestamp() >= deadline)
                    throw TimedOut();
                Thread.Sleep(2);
            }
            catch (UnixStreamException e)
            {
                throw e.Errno switch
                {
                    UnixStreamException.EConnRefused when File.Exists(SocketPath) => new AgentException(AgentErrorCode.TryAgainLater,
                        $"fathom-agent is not running (nothing listens on {SocketPath})", innerException: e),
                    UnixStreamException.EAcces => new AgentException(AgentErrorCode.PermissionDenied,
                        $"permission denied connecting to fathom-agent on {SocketPath}: the plugin must run as root", innerException: e),
                    _ when !File.Exists(SocketPath) => new AgentException(AgentErrorCode.TryAgainLater,
                        $"fathom-agent is not running (no socket at {SocketPath})", innerException: e),
                    _ => new AgentException(AgentErrorCode.TryAgainLater,
                        $"cannot connect to fathom-agent on {SocketPath}: {e.Message}", innerException: e),
                };
            }
        }
    }

    private int RemainingMilliseconds(long deadline)
    {
        var remaining = deadline - Stopwatch.GetTimestamp();
        if (remaining <= 0)
            throw TimedOut();
        return (int)Math.Clamp(remaining * 1000 / Stopwatch.Frequency, 1, int.MaxValue);
    }

    private AgentException TimedOut() => new(AgentErrorCode.TryAgainLater,
        $"fathom-agent on {SocketPath} did not answer within {Timeout.TotalSeconds:0.###} s");
}
