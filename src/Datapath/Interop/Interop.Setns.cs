using System.Runtime.InteropServices;

namespace Fathom.Datapath;

internal static partial class Interop
{
    /// <summary>CLONE_NEWNET from include/uapi/linux/sched.h.</summary>
    internal const int CLONE_NEWNET = 0x40000000;

    /// <summary>setns(2): moves the calling thread (only it) into the namespace behind <paramref name="fd"/>.</summary>
    [LibraryImport("libc", EntryPoint = "setns", SetLastError = true)]
    internal static partial int Setns(SafeHandle fd, int nstype);
}
