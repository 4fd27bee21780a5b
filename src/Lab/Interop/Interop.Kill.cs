using System.Runtime.InteropServices;

namespace Fathom.Lab;

internal static partial class Interop
{
    /// <summary>kill(2).</summary>
    [LibraryImport("libc", SetLastError = true)]
    internal static partial int kill(int pid, int signal);
}
