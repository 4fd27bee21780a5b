using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    /// <summary>getsockname(2): learns the port id the kernel assigned at bind.</summary>
    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    internal static unsafe partial int GetSockName(SafeNetlinkSocketHandle socket, SockAddrNetlink* address, uint* addressLength);
}
