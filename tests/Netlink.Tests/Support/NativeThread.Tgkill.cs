using System.Runtime.InteropServices;

namespace Fathom.Netlink.Tests;

internal static partial class NativeThread
{
    /// <summary>SIGCHLD: the runtime handles it (reaping its child processes), so a spurious one is harmless.</summary>
    internal const int SIGCHLD = 17;

    /// <summary>tgkill(2): sends a signal to one thread, to interrupt a system call it is blocked in.</summary>
    [LibraryImport("libc", EntryPoint = "tgkill", SetLastError = true)]
    internal static partial int Tgkill(int processId, int threadId, int signal);
}
