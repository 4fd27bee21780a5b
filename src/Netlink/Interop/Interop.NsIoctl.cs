using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ns
    {
        /// <summary>
        /// NS_GET_NSTYPE, _IO(0xb7, 0x3) from include/uapi/linux/nsfs.h (Linux 4.11): returns the
        /// CLONE_NEW* type of a namespace fd, and fails with ENOTTY on any other file.
        /// </summary>
        internal const nuint NS_GET_NSTYPE = 0xb703;

        /// <summary>ioctl(2) without an argument.</summary>
        [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        internal static partial int Ioctl(int fd, nuint request);
    }
}
