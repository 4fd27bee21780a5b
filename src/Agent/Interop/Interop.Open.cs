using System.Runtime.InteropServices;

namespace Fathom.Agent;

internal static partial class Interop
{
    internal const int ORdOnly = 0x0;          // O_RDONLY, include/uapi/asm-generic/fcntl.h
    internal const int ODirectory = 0x10000;   // O_DIRECTORY (x86-64 and arm64 alike)
    internal const int OCloExec = 0x80000;     // O_CLOEXEC

    /// <summary>open(2); used for directories, which FileStream refuses to open.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);
}
