using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    /// <summary>write(2) on a raw descriptor: returns bytes written or -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(int fd, byte* buffer, nuint count);
}
