using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        // Mount flags from include/uapi/linux/mount.h.
        internal const ulong MS_BIND = 4096;
        internal const ulong MS_REC = 16384;
        internal const ulong MS_SHARED = 1 << 20;

        /// <summary>mount(2); the data argument is never used here, so it is passed as null.</summary>
        [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Mount(string source, string target, string fstype, ulong flags, nint data);
    }
}
