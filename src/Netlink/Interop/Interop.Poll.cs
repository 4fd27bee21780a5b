using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal const short POLLIN = 0x1;

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    /// <summary>poll(2) on one descriptor, for a bounded wait on a link watcher.</summary>
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);
}
