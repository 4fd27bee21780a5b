using Fathom.Netlink.Sockets;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

/// <summary>
/// A NETLINK_ROUTE socket bound to one network namespace: every call configures that namespace,
/// whichever namespace the calling thread is in (vishvananda/netlink's <c>Handle</c>,
/// <c>NewHandleAt(ns)</c>). A handle serialises its requests with a lock, so sharing one is safe
/// but not parallel: use one handle per thread to configure namespaces concurrently.
/// </summary>
public sealed partial class NetlinkHandle : IDisposable
{
    private readonly NetlinkSocket _socket;
    private readonly Lock _gate = new();

    private NetlinkHandle(NetlinkSocket socket) => _socket = socket;

    /// <summary>Opens a handle on the calling thread's network namespace.</summary>
    /// <exception cref="NetlinkException">When the socket cannot be created or bound.</exception>
    public static NetlinkHandle Open() => new(NetlinkSocket.Open());

    /// <summary>
    /// Opens a handle on <paramref name="netns"/>: the socket is created inside it on a dedicated
    /// thread (<see cref="Netns.Run{T}(NetnsHandle, Func{T})"/>) and stays bound to it — a netlink
    /// socket belongs to the namespace it was created in (net/netlink/af_netlink.c
    /// __netlink_create takes current->nsproxy->net_ns) — so the caller's thread never switches.
    /// </summary>
    public static NetlinkHandle OpenIn(NetnsHandle netns)
    {
        ArgumentNullException.ThrowIfNull(netns);
        return new(Netns.Run(netns, () => NetlinkSocket.Open()));
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose()
    {
        lock (_gate) _socket.Dispose();
    }

    /// <summary>Writes one request into the socket's send buffer.</summary>
    private delegate void RequestWriter(ref NetlinkWriter writer);

    // Every request goes through one of these, under the lock: the socket's buffers and
    // sequence number are shared by all requests on this handle.

    /// <summary>Sends a change and waits for the kernel's ACK.</summary>
    private void Execute(RequestWriter write, string what)
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            write(ref w);
            _socket.Execute(ref w, what);
        }
    }

    /// <summary>Sends a change asking for its echo (NLM_F_ECHO) and waits for the ACK; the echo parsed, or null when none came.</summary>
    private T? ExecuteEcho<T>(RequestWriter write, ReplyParser<T> parse, string what) where T : class
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            write(ref w);
            return _socket.ExecuteEcho(ref w, parse, what);
        }
    }

    /// <summary>Sends a GET and parses its one reply.</summary>
    private T Get<T>(RequestWriter write, ReplyParser<T> parse, string what) where T : class =>
        TryGet(write, parse, what, absent: 0)!;

    /// <summary>Sends a GET and parses its one reply; null when the kernel answers <paramref name="absent"/> (0: never).</summary>
    private T? TryGet<T>(RequestWriter write, ReplyParser<T> parse, string what, Errno absent) where T : class
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            write(ref w);
            return _socket.TryGet(ref w, parse, what, absent);
        }
    }

    /// <summary>Sends a dump request and parses every reply.</summary>
    private List<T> Dump<T>(RequestWriter write, ReplyParser<T> parse, string what) where T : class
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            write(ref w);
            return _socket.Dump(ref w, parse, what);
        }
    }

    /// <summary>Runs <paramref name="action"/> with <paramref name="netns"/>'s fd kept open for its duration.</summary>
    private static void WithFd(NetnsHandle netns, Action<int> action)
    {
        ArgumentNullException.ThrowIfNull(netns);
        bool added = false;
        try
        {
            netns.DangerousAddRef(ref added);
            action(netns.Fd);
        }
        finally
        {
            if (added) netns.DangerousRelease();
        }
    }
}
