using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        /// <summary>unshare(2): gives the calling thread (only it) new namespaces of the kinds in <paramref name="flags"/>.</summary>
        [LibraryImport("libc", EntryPoint = "unshare", SetLastError = true)]
        internal static partial int Unshare(int flags);
    }
}
