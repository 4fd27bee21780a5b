using System.Runtime.InteropServices;

namespace Fathom.Datapath;

internal static partial class Interop
{
    // include/uapi/linux/fcntl.h and stat.h.
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_INO = 0x100;

    /// <summary>sizeof(struct statx): one layout on every architecture, unlike struct stat.</summary>
    internal const int StatxSize = 256;

    // Offsets in struct statx of __u64 stx_ino, __u32 stx_dev_major and __u32 stx_dev_minor.
    internal const int StatxInoOffset = 32;
    internal const int StatxDevMajorOffset = 136;
    internal const int StatxDevMinorOffset = 140;

    /// <summary>statx(2): 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The identity of an open file: (device major, device minor, inode), or null when it cannot be stat'ed.</summary>
    internal static unsafe (uint Major, uint Minor, ulong Inode)? Identity(int fd)
    {
        var buffer = stackalloc byte[StatxSize];
        if (Statx(fd, "", AT_EMPTY_PATH, STATX_INO, buffer) != 0) return null;
        return (*(uint*)(buffer + StatxDevMajorOffset), *(uint*)(buffer + StatxDevMinorOffset), *(ulong*)(buffer + StatxInoOffset));
    }
}
