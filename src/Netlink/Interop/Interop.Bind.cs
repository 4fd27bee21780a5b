using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    /// <summary>struct sockaddr_nl (include/uapi/linux/netlink.h).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SockAddrNetlink
    {
        public ushort Family;
        public ushort Pad;
        public uint PortId;
        public uint Groups;
    }

    /// <summary>bind(2) with a sockaddr_nl.</summary>
    [LibraryImport("libc", EntryPoint = "bind", SetLastError = true)]
    internal static unsafe partial int Bind(SafeNetlinkSocketHandle socket, SockAddrNetlink* address, uint addressLength);
}
