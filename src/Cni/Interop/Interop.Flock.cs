using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    internal const int O_RDWR = 0x2;
    internal const int LOCK_EX = 2;

    /// <summary>flock(2): 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    internal static partial int Flock(int fd, int operation);

    /// <summary>unlink(2): 0, or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unlink(string path);

    /// <summary>The (device, inode) of <paramref name="path"/> itself, or of an open descriptor (path ""), or null.</summary>
    internal static unsafe (uint Major, uint Minor, ulong Inode)? Identity(int dirfd, string path)
    {
        var buffer = stackalloc byte[StatxSize];
        var flags = path.Length == 0 ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
        if (Statx(dirfd, path, flags, 0x100 /* STATX_INO */, buffer) != 0) return null;
        return (*(uint*)(buffer + 136), *(uint*)(buffer + 140), *(ulong*)(buffer + 32)); // stx_dev_major, stx_dev_minor, stx_ino
    }
}
