using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        // include/uapi/linux/fcntl.h and stat.h.
        internal const int AT_EMPTY_PATH = 0x1000;
        internal const uint STATX_INO = 0x100;

        /// <summary>sizeof(struct statx), the same on every architecture (include/uapi/linux/stat.h).</summary>
        internal const int StatxSize = 256;

        /// <summary>Offset of the __u64 stx_ino in struct statx.</summary>
        internal const int StatxInoOffset = 32;

        /// <summary>
        /// statx(2). Used rather than fstat because struct statx has one layout on every
        /// architecture, while struct stat differs between x86-64 and arm64.
        /// </summary>
        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);
    }
}
