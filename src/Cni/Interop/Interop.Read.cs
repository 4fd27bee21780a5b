using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    /// <summary>read(2) on a raw descriptor: returns bytes read, 0 at end of file, -1 with errno set.</summary>
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, byte* buffer, nuint count);
}
