using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    // Flag values from asm-generic/fcntl.h, the same on x86-64 and arm64.
    internal const int O_RDONLY = 0x0;
    internal const int O_WRONLY = 0x1;
    internal const int O_NONBLOCK = 0x800;
    internal const int O_CREAT = 0x40;
    internal const int O_APPEND = 0x400;
    internal const int O_CLOEXEC = 0x80000;
    // O_NOFOLLOW and O_DIRECTORY differ between x86-64 and arm64: not used.

    /// <summary>open(2): returns the fd or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, uint mode);
}
