using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        /// <summary>MNT_DETACH from include/linux/fs.h: lazy unmount, as `ip netns del` does.</summary>
        internal const int MNT_DETACH = 2;

        /// <summary>umount2(2).</summary>
        [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Umount2(string target, int flags);
    }
}
