using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        // Flag values from the generic asm-generic/fcntl.h, shared by x86-64 and arm64
        // (O_DIRECTORY differs between them, so it is deliberately not used here).
        internal const int O_RDONLY = 0x0;
        internal const int O_CREAT = 0x40;
        internal const int O_EXCL = 0x80;
        internal const int O_CLOEXEC = 0x80000;

        /// <summary>open(2); returns the fd or -1 with errno set.</summary>
        [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Open(string path, int flags, uint mode);
    }
}
