using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    // include/uapi/linux/fcntl.h, stat.h.
    internal const int AT_FDCWD = -100;
    internal const int AT_SYMLINK_NOFOLLOW = 0x100;
    internal const int AT_EMPTY_PATH = 0x1000;
    internal const uint STATX_TYPE = 0x1;
    internal const uint STATX_MTIME = 0x40;
    internal const ushort S_IFMT = 0xF000;
    internal const ushort S_IFREG = 0x8000;
    internal const ushort S_IFDIR = 0x4000;

    /// <summary>sizeof(struct statx): one layout on every architecture, unlike struct stat.</summary>
    internal const int StatxSize = 256;

    /// <summary>Offset of the __u16 stx_mode in struct statx.</summary>
    internal const int StatxModeOffset = 28;

    /// <summary>statx(2): 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The file type bits (S_IFMT) of <paramref name="path"/> itself (a symlink is not followed), or null when it cannot be stat'ed.</summary>
    internal static unsafe ushort? FileType(string path)
    {
        var buffer = stackalloc byte[StatxSize];
        if (Statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_TYPE, buffer) != 0) return null;
        return (ushort)(*(ushort*)(buffer + StatxModeOffset) & S_IFMT);
    }

    /// <summary>The file type bits of an open descriptor, or null.</summary>
    internal static unsafe ushort? FileType(int fd)
    {
        var buffer = stackalloc byte[StatxSize];
        if (Statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, buffer) != 0) return null;
        return (ushort)(*(ushort*)(buffer + StatxModeOffset) & S_IFMT);
    }

    /// <summary>What a file type is, for messages.</summary>
    internal static string DescribeFileType(ushort type) => type switch
    {
        S_IFDIR => "a directory",
        0x1000 => "a FIFO",
        0xC000 => "a socket",
        0xA000 => "a symbolic link",
        0x2000 => "a character device",
        0x6000 => "a block device",
        _ => "not a regular file",
    };
}
