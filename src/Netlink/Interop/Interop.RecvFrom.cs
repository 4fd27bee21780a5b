using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal const int MSG_PEEK = 0x2;
    internal const int MSG_TRUNC = 0x20;
    internal const int MSG_DONTWAIT = 0x40;

    /// <summary>recvfrom(2); <paramref name="source"/> tells whether the kernel (nl_pid 0) sent the datagram.</summary>
    [LibraryImport("libc", EntryPoint = "recvfrom", SetLastError = true)]
    internal static unsafe partial nint RecvFrom(SafeNetlinkSocketHandle socket, byte* buffer, nuint length, int flags,
        SockAddrNetlink* source, uint* sourceLength);
}
