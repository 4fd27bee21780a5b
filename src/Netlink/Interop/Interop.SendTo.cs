using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    /// <summary>sendto(2); the destination is the kernel (nl_pid 0).</summary>
    [LibraryImport("libc", EntryPoint = "sendto", SetLastError = true)]
    internal static unsafe partial nint SendTo(SafeNetlinkSocketHandle socket, byte* buffer, nuint length, int flags,
        SockAddrNetlink* destination, uint destinationLength);
}
