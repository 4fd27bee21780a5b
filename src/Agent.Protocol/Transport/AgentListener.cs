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
    private readonly HashSet<Task> _connections = [];
    private readonly Task _acceptLoop;
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
        _acceptLoop = Task.Run(AcceptLoopAsync);
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

    private async Task AcceptLoopAsync()
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _slots.WaitAsync(stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            Socket client;
            try
            {
                client = await _socket.AcceptAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                _slots.Release();
                return;
            }
            catch (SocketException) when (stopping.IsCancellationRequested)
            {
                _slots.Release();
                return; // the listening socket was closed by DisposeAsync
            }
            catch (SocketException e)
            {
                // EMFILE and the like: say so and go on; a tight loop is prevented by the pause.
                _slots.Release();
                _options.Log?.Invoke($"accept on {SocketPath} failed: {e.Message}");
                await Task.Delay(50, CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            var connection = Task.Run(() => ServeAsync(client));
            lock (_connections)
                _connections.Add(connection);
            _ = connection.ContinueWith(t =>
            {
                lock (_connections)
                    _connections.Remove(t);
                _slots.Release();
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        var stopping = _stopping.Token;
        await using var stream = new NetworkStream(client, ownsSocket: false);
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
            await TryReplyAsync(stream, new ErrorReply
            {
                Code = AgentErrorCode.PermissionDenied,
                Message = $"uid {peer.Uid} may not use fathom-agent on {SocketPath} (only uid {_options.AllowedUid})",
            }).ConfigureAwait(false);
            return;
        }

        while (!stopping.IsCancellationRequested)
        {
            byte[]? payload;
            using (var bound = CancellationTokenSource.CreateLinkedTokenSource(stopping))
            {
                bound.CancelAfter(_options.ReadTimeout);
                try
                {
                    payload = await AgentFrame.ReadAsync(stream, _options.MaxFrameBytes, bound.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
                {
                    Reject($"pid {peer.Pid} sent no complete request within {_options.ReadTimeout.TotalSeconds:0.###} s: closing");
                    return;
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (AgentException e)
                {
                    Reject($"pid {peer.Pid}: {e.Message}");
                    await TryReplyAsync(stream, e.ToReply()).ConfigureAwait(false);
                    return;
                }
                catch (IOException)
                {
                    return; // the client went away mid-frame
                }
            }
            if (payload is null)
                return; // the client closed after its last request

            AgentRequest request;
            try
            {
                request = AgentMessages.ParseRequest(payload);
            }
            catch (AgentException e)
            {
                Reject($"pid {peer.Pid}: {e.Message}");
                await TryReplyAsync(stream, e.ToReply()).ConfigureAwait(false);
                return;
            }
            var reply = await DispatchAsync(request, peer, stopping).ConfigureAwait(false);
            Interlocked.Increment(ref _requests);
            if (!await TryReplyAsync(stream, reply).ConfigureAwait(false))
                return;
        }
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
    private async Task<bool> TryReplyAsync(NetworkStream stream, AgentReply reply)
    {
        // Bounded by time only, not by the stop: a request answered while the listener drains
        // must still get its reply.
        using var bound = new CancellationTokenSource(_options.ReadTimeout);
        try
        {
            await stream.WriteAsync(AgentFrame.Encode(AgentMessages.Serialize(reply)), bound.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
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
        await _acceptLoop.ConfigureAwait(false);
        Task[] inFlight;
        lock (_connections)
            inFlight = [.. _connections];
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
