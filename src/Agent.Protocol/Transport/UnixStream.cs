using System.Runtime.InteropServices;
using System.Text;

namespace Fathom.Agent.Protocol;

/// <summary>A socket descriptor of <see cref="UnixStream"/>, closed once.</summary>
internal sealed class SafeUnixStreamHandle : SafeHandle
{
    public SafeUnixStreamHandle() : base(-1, ownsHandle: true)
    {
    }

    internal SafeUnixStreamHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;

    protected override bool ReleaseHandle() => Interop.Close(handle) == 0;
}

/// <summary>
/// A blocking AF_UNIX stream socket through the system calls themselves (socket, connect, send,
/// recv with SO_SNDTIMEO/SO_RCVTIMEO), for the plugin's one request per process. Not
/// System.Net.Sockets: its first use starts the socket engine's epoll thread, and a thread's
/// start is a wait for a core — up to milliseconds of every ADD and DEL on a busy node (strace -f
/// of an ADD). Errors are the errno (<see cref="UnixStreamException"/>); the client words them.
/// </summary>
internal sealed class UnixStream : IDisposable
{
    private const int EIntr = 4;
    private readonly SafeUnixStreamHandle _handle;

    private UnixStream(SafeUnixStreamHandle handle) => _handle = handle;

    /// <summary>Connects to <paramref name="path"/>, waiting at most <paramref name="timeoutMs"/> when the listener's backlog is full.</summary>
    /// <exception cref="UnixStreamException">socket(2) or connect(2) failed (ECONNREFUSED, ENOENT, EACCES, EAGAIN …).</exception>
    public static unsafe UnixStream Connect(string path, int timeoutMs)
    {
        var address = new Interop.SockAddrUn { Family = Interop.AfUnix };
        var length = Encoding.UTF8.GetByteCount(path);
        if (length >= Interop.SockAddrUn.PathBytes)
            throw new UnixStreamException(36 /* ENAMETOOLONG */, $"socket path of {length} bytes is longer than sun_path");
        Encoding.UTF8.GetBytes(path, new Span<byte>(address.Path, Interop.SockAddrUn.PathBytes));
        var fd = Interop.Socket(Interop.AfUnix, Interop.SockStream | Interop.SockCloexec, 0);
        if (fd < 0)
            throw UnixStreamException.Last("socket");
        var stream = new UnixStream(new SafeUnixStreamHandle(fd));
        try
        {
            // On AF_UNIX, connect(2) waits for room in a full backlog up to SO_SNDTIMEO, then EAGAIN
            // (net/unix/af_unix.c, unix_stream_connect).
            stream.SetTimeout(Interop.SoSndTimeo, timeoutMs);
            var size = (uint)(sizeof(ushort) + length + 1);
            int result;
            do result = Interop.Connect(stream._handle, &address, size);
            while (result != 0 && Marshal.GetLastPInvokeError() == EIntr);
            if (result != 0)
                throw UnixStreamException.Last("connect");
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Sends all of <paramref name="data"/>, each send(2) bounded by <paramref name="timeoutMs"/> (EAGAIN when it ran out).</summary>
    public unsafe void SendAll(ReadOnlySpan<byte> data, Func<int> timeoutMs)
    {
        while (!data.IsEmpty)
        {
            SetTimeout(Interop.SoSndTimeo, timeoutMs());
            nint n;
            fixed (byte* p = data)
                n = Interop.Send(_handle, p, (nuint)data.Length, Interop.MsgNoSignal);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EIntr) continue;
                throw UnixStreamException.Last("send");
            }
            data = data[(int)n..];
        }
    }

    /// <summary>Fills <paramref name="buffer"/> or returns how much came before the peer closed; each recv(2) bounded by <paramref name="timeoutMs"/>.</summary>
    public unsafe int ReceiveAll(Span<byte> buffer, Func<int> timeoutMs)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            SetTimeout(Interop.SoRcvTimeo, timeoutMs());
            nint n;
            fixed (byte* p = buffer[got..])
                n = Interop.Recv(_handle, p, (nuint)(buffer.Length - got), 0);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EIntr) continue;
                throw UnixStreamException.Last("recv");
            }
            if (n == 0)
                break;
            got += (int)n;
        }
        return got;
    }

    private unsafe void SetTimeout(int option, int milliseconds)
    {
        var value = new Interop.TimeVal { Seconds = milliseconds / 1000, Microseconds = milliseconds % 1000 * 1000 };
        if (Interop.SetSockOptTimeVal(_handle, Interop.SolSocket, option, &value, (uint)sizeof(Interop.TimeVal)) != 0)
            throw UnixStreamException.Last("setsockopt");
    }

    public void Dispose() => _handle.Dispose();
}

/// <summary>A system call of <see cref="UnixStream"/> failed with <see cref="Errno"/>.</summary>
internal sealed class UnixStreamException(int errno, string message) : Exception(message)
{
    public const int ENoEnt = 2;
    public const int EAgain = 11;
    public const int EAcces = 13;
    public const int EPipe = 32;
    public const int EConnReset = 104;
    public const int EConnRefused = 111;

    /// <summary>The errno.</summary>
    public int Errno { get; } = errno;

    /// <summary>Whether a SO_SNDTIMEO/SO_RCVTIMEO bound ran out (or the backlog stayed full).</summary>
    public bool IsTimeout => Errno == EAgain;

    internal static UnixStreamException Last(string call)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new UnixStreamException(errno, $"{call}: {Marshal.GetPInvokeErrorMessage(errno)}");
    }
}
