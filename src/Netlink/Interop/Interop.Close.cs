using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    /// <summary>
    /// close(2), for netlink sockets and namespace fds alike. Never retried on EINTR: on Linux
    /// the fd is released either way, and a retry could close an fd another thread just got.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
