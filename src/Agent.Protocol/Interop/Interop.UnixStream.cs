using System.Runtime.InteropServices;

namespace Fathom.Agent.Protocol;

internal static partial class Interop
{
    internal const int AfUnix = 1;               // AF_UNIX, include/linux/socket.h
    internal const int SockStream = 1;           // SOCK_STREAM
    internal const int SockCloexec = 0x80000;    // SOCK_CLOEXEC (O_CLOEXEC on x86-64 and arm64)
    internal const int SoRcvTimeo = 20;          // SO_RCVTIMEO_OLD, include/uapi/asm-generic/socket.h (64-bit timeval)
    internal const int SoSndTimeo = 21;          // SO_SNDTIMEO_OLD
    internal const int MsgNoSignal = 0x4000;     // MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE

    /// <summary>struct sockaddr_un (include/uapi/linux/un.h): family, then a path of at most 108 bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct SockAddrUn
    {
        public const int PathBytes = 108;
        public ushort Family;
        public fixed byte Path[PathBytes];
    }

    /// <summary>struct timeval on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct TimeVal
    {
        public long Seconds;
        public long Microseconds;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    internal static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    internal static unsafe partial int Connect(SafeUnixStreamHandle socket, SockAddrUn* address, uint length);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    internal static unsafe partial int SetSockOptTimeVal(SafeUnixStreamHandle socket, int level, int option, TimeVal* value, uint length);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    internal static unsafe partial nint Send(SafeUnixStreamHandle socket, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(SafeUnixStreamHandle socket, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(nint fd);
}
