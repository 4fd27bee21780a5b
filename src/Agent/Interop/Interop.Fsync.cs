using System.Runtime.InteropServices;

namespace Fathom.Agent;

internal static partial class Interop
{
    /// <summary>fsync(2).</summary>
    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    internal static partial int Fsync(int fd);
}
