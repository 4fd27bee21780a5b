using System.Runtime.InteropServices;

namespace Fathom.Agent;

internal static partial class Interop
{
    /// <summary>close(2). Never retried on EINTR: on Linux the fd is released either way.</summary>
    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
