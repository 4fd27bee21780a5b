using System.Runtime.InteropServices;

namespace Fathom.Agent;

internal static partial class Interop
{
    internal const int ORdOnly = 0x0;          // O_RDONLY, include/uapi/asm-generic/fcntl.h
    internal const int OWrOnly = 0x1;          // O_WRONLY
    internal const int OCreat = 0x40;          // O_CREAT
    internal const int OExcl = 0x80;           // O_EXCL
    internal const int OCloExec = 0x80000;     // O_CLOEXEC

    /// <summary>O_DIRECTORY: 0x10000 on x86-64 (asm-generic), 0x4000 on arm and arm64 (their own fcntl.h).</summary>
    internal static int ODirectory => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    /// <summary>open(2); used for directories, which FileStream refuses to open.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags);

    /// <summary>open(2) with O_CREAT's mode.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Open(string path, int flags, uint mode);
}
