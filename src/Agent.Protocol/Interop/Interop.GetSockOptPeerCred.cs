using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Fathom.Agent.Protocol;

internal static partial class Interop
{
    internal const int SolSocket = 1;   // SOL_SOCKET, include/uapi/asm-generic/socket.h
    internal const int SoPeerCred = 17; // SO_PEERCRED, include/uapi/asm-generic/socket.h

    /// <summary>struct ucred (include/linux/socket.h): the peer's credentials at connect(2) time.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct UCred
    {
        public int Pid;
        public uint Uid;
        public uint Gid;
    }

    /// <summary>getsockopt(2) for SO_PEERCRED on a connected AF_UNIX socket.</summary>
    [LibraryImport("libc", EntryPoint = "getsockopt", SetLastError = true)]
    internal static unsafe partial int GetSockOptPeerCred(SafeSocketHandle socket, int level, int option, UCred* value, uint* length);
}
