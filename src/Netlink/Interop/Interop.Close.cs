using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    /// <summary>close(2) for a netlink socket. Never retried on EINTR: on Linux the fd is released either way.</summary>
    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int CloseSocket(int fd);
}
