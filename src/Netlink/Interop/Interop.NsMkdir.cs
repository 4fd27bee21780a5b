using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        /// <summary>mkdir(2), for iproute2's exact mode on /run/netns (Directory.CreateDirectory would ask for 0777).</summary>
        [LibraryImport("libc", EntryPoint = "mkdir", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        internal static partial int Mkdir(string path, uint mode);
    }
}
