using System.Runtime.InteropServices;

namespace Fathom.Datastore;

internal static partial class Interop
{
    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000; // asm-generic/fcntl.h
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary>
    /// fsync(2) of a directory, so that a rename(2) into it is durable: without it a crash may
    /// bring back the old entry although the new file's data reached the disk (rename(2) is
    /// atomic, not durable; see ext4's auto_da_alloc notes). .NET cannot open a directory as a file.
    /// </summary>
    public static void FsyncDirectory(string path)
    {
        var fd = Open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) throw new IOException($"open({path}) for fsync: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) < 0) throw new IOException($"fsync({path}): errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            Close(fd);
        }
    }
}
