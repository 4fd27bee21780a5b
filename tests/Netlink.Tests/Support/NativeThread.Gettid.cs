using System.Runtime.InteropServices;

namespace Fathom.Netlink.Tests;

internal static partial class NativeThread
{
    /// <summary>gettid(2): the kernel's id of the calling thread, for <see cref="Tgkill"/>.</summary>
    [LibraryImport("libc", EntryPoint = "gettid")]
    internal static partial int Gettid();
}
