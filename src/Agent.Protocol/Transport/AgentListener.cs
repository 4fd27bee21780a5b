using System.Diagnostics;
using System.Net.Sockets;

namespace Fathom.Agent.Protocol;

/// <summary>
/// The agent's side of the socket. <see cref="Start"/> takes the socket path for this process
/// (a lock file beside it; a socket left by a killed agent is removed, a live agent's is not
/// touched), then serves every connection concurrently: peer credentials checked first (SO_PEERCRED),
/// then any number of request frames, each read within <see cref="AgentListenerOptions.ReadTimeout"/>,
/// each answered by <see cref="IAgentService"/>. A malformed frame is answered with an
/// <see cref="ErrorReply"/> and the connection closed (its framing can no longer be trusted); the
/// listener itself never stops for what a client sends.
/// </summary>
public sealed class AgentListener : IAsyncDisposable
{
    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode SocketMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly IAgentService _service;
    private readonly AgentListenerOptions _options;
    private readonly Socket _socket;
    private readonly FileStream _lock;
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _slots;
    private readonly Dictionary<Socket, Task> _connections = [];
    private readonly TaskCompletionSource _acceptDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ConnectionWorker> _idle = [];
    private readonly Queue<(Socket?, TaskCompletionSource?)> _pending = new();
    private readonly SemaphoreSlim _spawn = new(0);

    // How long a connection thread with nothing to serve waits for the next connection before it ends.
    private static readonly TimeSpan IdleWorkerLifetime = TimeSpan.FromSeconds(30);

    // How often the accept thread looks whether the listener stops, and each connection thread's
    // stack (a request needs little; the default 1.5 MiB would be reserved per connection).
    private const int StopPollMilliseconds = 200;
    private const int ConnectionStackBytes = 256 * 1024;
    private long _requests;
    private long _rejected;
    private int _disposed;

    private AgentListener(string socketPath, IAgentService service, AgentListenerOptions options, Socket socket, FileStream lockFile)
    {
        SocketPath = socketPath;
        _service = service;
        _options = options;
        _socket = socket;
        _lock = lockFile;
        _slots = new SemaphoreSlim(options.MaxConnections);
        new Thread(AcceptLoop) { IsBackground = true, Name = "fathom-agent accept" }.Start();
        new Thread(Spawner) { IsBackground = true, Name = "fathom-agent spawn" }.Start();
    }

    /// <summary>The socket path served.</summary>
    public string SocketPath { get; }

    /// <summary>Requests answered so far (errors included).</summary>
    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>Connections or frames refused so far: wrong uid, malformed, too slow.</summary>
    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Binds <paramref name="socketPath"/> and starts serving <paramref name="service"/>.</summary>
    /// <exception cref="InvalidOperationException">Another agent serves this path.</exception>
    /// <exception cref="IOException">The directory, lock or socket could not be made.</exception>
    public static AgentListener Start(string socketPath, IAgentService service, AgentListenerOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        ArgumentNullException.ThrowIfNull(service);
        options ??= new AgentListenerOptions();
        socketPath = Path.GetFullPath(socketPath);
        var directory = Path.GetDirectoryName(socketPath)!;
        if (!Directory.Exists(directory))
            Directory.CreateDirectory(directory, DirectoryMode);

        // Who owns the path is decided by an exclusive lock on a file beside it (FileShare.None is
        // flock(LOCK_EX|LOCK_NB) on Linux), released by the kernel however the holder dies. Probing
        // the socket alone would let two agents starting together both find it stale.
        var lockPath = socketPath + ".lock";
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"another fathom-agent serves {socketPath} (it holds {lockPath})", e);
        }

        Socket? socket = null;
        try
        {
            RemoveStaleSocket(socketPath, options);
            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(socketPath));
            socket.Listen(512);
            // The directory is 0700 already, so no one else reaches the socket before the chmod.
            File.SetUnixFileMode(socketPath, SocketMode);
            options.Log?.Invoke($"listening on {socketPath} (uid {options.AllowedUid} only)");
            return new AgentListener(socketPath, service, options, socket, lockFile);
        }
        catch
        {
            socket?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    private static void RemoveStaleSocket(string socketPath, AgentListenerOptions options)
    {
        if (!File.Exists(socketPath))
            return;
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(socketPath));
                throw new InvalidOperationException(
                    $"another process listens on {socketPath} without holding {socketPath}.lock: refusing to take it over");
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Nobody listens: the socket of an agent that was killed.
            }
        }
        File.Delete(socketPath);
        options.Log?.Invoke($"removed stale socket {socketPath} left by an agent that did not stop cleanly");
    }

    /// <summary>
    /// Accepts on a dedicated thread, blocking in accept(2) (polled, so a stop is seen within
    /// <see cref="StopPollMilliseconds"/>): a connection wakes this thread directly, where an
    /// asynchronous accept costs a hop through the socket engine's thread and the thread pool.
    /// </summary>
    private void AcceptLoop()
    {
        var stopping = _stopping.Token;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                _slots.Wait(stopping);
                Socket? client = null;
                try
                {
                    while (client is null && !stopping.IsCancellationRequested)
                        if (_socket.Poll(StopPollMilliseconds * 1000, SelectMode.SelectRead))
                            client = TryAccept();
                }
                catch (Exception e) when (e is ObjectDisposedException || (e is SocketException && stopping.IsCancellationRequested))
                {
                    // The listening socket was closed by DisposeAsync.
                }
                if (client is null)
                {
                    _slots.Release();
                    continue;
                }
                StartConnection(client);
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _acceptDone.TrySetResult();
        }
    }

    // Null when the connection went away between poll and accept, or accept failed (EMFILE and the
    // like: said, and paused so that a persistent failure is no tight loop).
    private Socket? TryAccept()
    {
        try
        {
            return _socket.Accept();
        }
        catch (SocketException e) when (!_stopping.IsCancellationRequested)
        {
            _options.Log?.Invoke($"accept on {SocketPath} failed: {e.Message}");
            Thread.Sleep(50);
            return null;
        }
    }

    /// <summary>
    /// Serves the connection on a thread of its own, blocking: the plugin's request is read, answered
    /// and written without one thread-pool hop (an agent whose pool threads are parked paid a wake-up
    /// for each: accept, the connection's task, the read, the reply — issue 9 §10, docs/benchmarks.md).
    /// A service that does not complete synchronously is waited for on this thread, which belongs to
    /// this connection alone, so the pool is never starved by a connection. The thread of a finished
    /// connection waits <see cref="IdleWorkerLifetime"/> for the next one, and new threads are started
    /// by <see cref="Spawner"/>, not here: Thread.Start returns only once the new thread runs, which on
    /// a busy node is a wait for a core — the accepting thread would pay it per connection of a burst.
    /// </summary>
    private void StartConnection(Socket client)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_connections)
            _connections.Add(client, done.Task);
        var connection = (client, done);
        lock (_idle)
        {
            if (_idle.Count > 0)
            {
                var worker = _idle[^1];
                _idle.RemoveAt(_idle.Count - 1);
                worker.Next = connection;
                worker.Go.Set();
                return;
            }
            // No thread parked: the spawner starts one, so that this thread goes back to accept(2) at
            // once; a thread that finishes first takes the connection instead.
            _pending.Enqueue(connection);
        }
        _spawn.Release();
    }

    /// <summary>Starts a connection thread for each connection no parked thread took, one after the other.</summary>
    private void Spawner()
    {
        while (true)
        {
            _spawn.Wait();
            if (_stopping.IsCancellationRequested && _pending.Count == 0)
                return;
            (Socket?, TaskCompletionSource?) next;
            lock (_idle)
            {
                if (!_pending.TryDequeue(out next))
                    continue; // a finishing connection thread took it
            }
            var fresh = new ConnectionWorker { Next = next };
            new Thread(() => Work(fresh), ConnectionStackBytes) { IsBackground = true, Name = "fathom-agent conn" }.Start();
        }
    }

    /// <summary>A connection thread: serves what it is handed, then waits for the next connection or exits when idle too long.</summary>
    private void Work(ConnectionWorker worker)
    {
        while (worker.Next is var (client, done) && client is not null)
        {
            worker.Next = default;
            try
            {
                Serve(client);
            }
            catch (Exception e)
            {
                _options.Log?.Invoke($"connection on {SocketPath} failed: {e}");
            }
            finally
            {
                lock (_connections)
                    _connections.Remove(client);
                client.Dispose();
                _slots.Release();
                done!.TrySetResult();
            }
            lock (_idle)
            {
                if (_pending.TryDequeue(out var waiting))
                {
                    worker.Next = waiting;
                    continue;
                }
                if (_stopping.IsCancellationRequested)
                    return;
                _idle.Add(worker);
            }
            if (!worker.Go.Wait(IdleWorkerLifetime))
            {
                lock (_idle)
                {
                    if (_idle.Remove(worker))
                        return;
                }
                worker.Go.Wait(); // taken from the list just as the wait ended: its connection is coming
            }
            // Handed a connection (or, with none, told to exit by DisposeAsync).
            worker.Go.Reset();
        }
    }

    /// <summary>A parked connection thread and what it is handed next.</summary>
    private sealed class ConnectionWorker
    {
        /// <summary>
        /// Set once per hand-over. No spinning before sleeping (a SemaphoreSlim spins first): a
        /// thread parks after every reply, while the plugin it answered runs on the same two cores —
        /// perf of a bench cni run found ≈ 5 % of the agent's CPU spent spinning here.
        /// </summary>
        public ManualResetEventSlim Go { get; } = new(false, spinCount: 0);
        public (Socket? Client, TaskCompletionSource? Done) Next { get; set; }
    }

    private void Serve(Socket client)
    {
        var stopping = _stopping.Token;
        PeerCredentials peer;
        try
        {
            peer = PeerCredentials.Of(client);
        }
        catch (SocketException e)
        {
            Reject($"cannot read the peer's credentials: {e.Message}");
            return;
        }
        if (peer.Uid != _options.AllowedUid)
        {
            Reject($"refused pid {peer.Pid}: uid {peer.Uid} may not use fathom-agent (only uid {_options.AllowedUid})");
            TryReply(client, new ErrorReply
            {
                Code = AgentErrorCode.PermissionDenied,
                Message = $"uid {peer.Uid} may not use fathom-agent on {SocketPath} (only uid {_options.AllowedUid})",
            });
            return;
        }

        while (!stopping.IsCancellationRequested)
        {
            byte[]? payload;
            try
            {
                payload = ReadFrame(client);
            }
            catch (TimeoutException) when (!stopping.IsCancellationRequested)
            {
                Reject($"pid {peer.Pid} sent no complete request within {_options.ReadTimeout.TotalSeconds:0.###} s: closing");
                return;
            }
            catch (AgentException e) when (!stopping.IsCancellationRequested)
            {
                Reject($"pid {peer.Pid}: {e.Message}");
                TryReply(client, e.ToReply());
                return;
            }
            catch (Exception e) when (e is TimeoutException or AgentException or SocketException or ObjectDisposedException)
            {
                return; // the client went away mid-frame, or the listener stops
            }
            if (payload is null)
                return; // the client closed after its last request (or the listener stops)

            AgentRequest request;
            try
            {
                request = AgentMessages.ParseRequest(payload);
            }
            catch (AgentException e)
            {
                Reject($"pid {peer.Pid}: {e.Message}");
                TryReply(client, e.ToReply());
                return;
            }
            // Synchronous services (the agent's are, unless an ADD waits for a refill or a teardown)
            // complete here without a hop; the others are waited for on this connection's thread.
            var reply = DispatchAsync(request, peer, stopping).GetAwaiter().GetResult();
            Interlocked.Increment(ref _requests);
            if (!TryReply(client, reply))
                return;
        }
    }

    /// <summary>
    /// One request frame, read within <see cref="AgentListenerOptions.ReadTimeout"/> from its first
    /// byte's wait on; null when the client closes before a frame starts.
    /// </summary>
    /// <exception cref="TimeoutException">The frame did not come whole in time.</exception>
    /// <exception cref="AgentException">The frame is malformed (truncated, empty, too big).</exception>
    private byte[]? ReadFrame(Socket client)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.ReadTimeout.TotalSeconds * Stopwatch.Frequency);
        Span<byte> header = stackalloc byte[AgentFrame.HeaderBytes];
        var got = Receive(client, header, deadline);
        if (got == 0)
            return null;
        if (got < header.Length)
            throw AgentFrame.Truncated(header.Length, got, "header");
        var payload = new byte[AgentFrame.ParseLength(header, _options.MaxFrameBytes)];
        got = Receive(client, payload, deadline);
        if (got < payload.Length)
            throw AgentFrame.Truncated(payload.Length, got, "payload");
        return payload;
    }

    // Fills the buffer or returns how much came before the client closed; each recv(2) bounded by what is left of the deadline.
    private static int Receive(Socket client, Span<byte> buffer, long deadline)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0)
                throw new TimeoutException();
            client.ReceiveTimeout = (int)Math.Clamp(left * 1000 / Stopwatch.Frequency, 1, int.MaxValue);
            int n;
            try
            {
                n = client.Receive(buffer[got..]);
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
            {
                throw new TimeoutException();
            }
            if (n == 0)
                break;
            got += n;
        }
        return got;
    }

    private async Task<AgentReply> DispatchAsync(AgentRequest request, PeerCredentials peer, CancellationToken cancellationToken)
    {
        try
        {
            return request switch
            {
                AllocateRequest r => await _service.AllocateAsync(r, cancellationToken).ConfigureAwait(false),
                ReleaseRequest r => await _service.ReleaseAsync(r, cancellationToken).ConfigureAwait(false),
                CheckRequest r => await _service.CheckAsync(r, cancellationToken).ConfigureAwait(false),
                GcRequest r => await _service.GcAsync(r, cancellationToken).ConfigureAwait(false),
                StatusRequest r => await _service.StatusAsync(r, cancellationToken).ConfigureAwait(false),
                _ => throw new AgentException(AgentErrorCode.MalformedMessage, $"no handler for {request.GetType().Name}"),
            };
        }
        catch (AgentException e)
        {
            return e.ToReply();
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = "fathom-agent is stopping" };
        }
        catch (Exception e)
        {
            _options.Log?.Invoke($"{request.GetType().Name} from pid {peer.Pid} failed: {e}");
            return new ErrorReply
            {
                Code = AgentErrorCode.Internal,
                Message = $"fathom-agent failed to serve {request.GetType().Name}: {e.Message}",
                Details = e.GetType().FullName,
            };
        }
    }

    /// <summary>Writes one reply within the read bound; false when the client is gone or too slow to read.</summary>
    private bool TryReply(Socket client, AgentReply reply)
    {
        // Bounded by time only, not by the stop: a request answered while the listener drains
        // must still get its reply.
        try
        {
            ReadOnlySpan<byte> frame = AgentFrame.Encode(AgentMessages.Serialize(reply));
            client.SendTimeout = (int)_options.ReadTimeout.TotalMilliseconds;
            while (!frame.IsEmpty)
                frame = frame[client.Send(frame)..];
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void Reject(string why)
    {
        Interlocked.Increment(ref _rejected);
        _options.Log?.Invoke(why);
    }

    /// <summary>Stops accepting, lets requests in progress finish (bounded), removes the socket and releases the path.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _acceptDone.Task.ConfigureAwait(false);
        lock (_idle)
        {
            // Parked connection threads wake with nothing to serve, and end.
            foreach (var worker in _idle)
                worker.Go.Set();
            _idle.Clear();
        }
        _spawn.Release(); // the spawner starts what is still pending, then ends
        Task[] inFlight;
        lock (_connections)
        {
            inFlight = [.. _connections.Values];
            // A connection waiting for its next request wakes with end of file (shutdown(2) of the
            // read side); one whose request is being served still writes its reply.
            foreach (var client in _connections.Keys)
            {
                try
                {
                    client.Shutdown(SocketShutdown.Receive);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
            }
        }
        await Task.WhenAll(inFlight).WaitAsync(_options.DrainTimeout).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        try
        {
            File.Delete(SocketPath);
        }
        catch (IOException e)
        {
            _options.Log?.Invoke($"could not remove {SocketPath}: {e.Message}");
        }
        // _stopping and _slots are left to the GC: a connection that outlived the drain bound still uses them.
        await _lock.DisposeAsync().ConfigureAwait(false);
    }
}
