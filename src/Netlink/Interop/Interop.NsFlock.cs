using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        internal const int LOCK_EX = 2;
        internal const int LOCK_UN = 8;

        /// <summary>flock(2) on a raw fd.</summary>
        [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
        internal static partial int Flock(int fd, int operation);
    }
}
