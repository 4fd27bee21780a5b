using System.Runtime.InteropServices;

namespace Fathom.Lab;

internal static partial class Interop
{
    /// <summary>fcntl(fd, F_DUPFD_CLOEXEC, 0): a close-on-exec duplicate, so children (dnsmasq) never inherit a listener.</summary>
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    internal static partial int fcntl_dupfd_cloexec(int fd, int command, int minimumFd);

    internal const int F_DUPFD_CLOEXEC = 1030;
}
