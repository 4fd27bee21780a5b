using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Ethtool
    {
        /// <summary>SIOCETHTOOL from include/uapi/linux/sockios.h.</summary>
        internal const nuint SIOCETHTOOL = 0x8946;

        /// <summary>ETHTOOL_GGRO / ETHTOOL_SGRO from include/uapi/linux/ethtool.h: get / set generic receive offload.</summary>
        internal const uint ETHTOOL_GGRO = 0x2b, ETHTOOL_SGRO = 0x2c;

        /// <summary>struct ethtool_value.</summary>
        [StructLayout(LayoutKind.Sequential)]
        internal struct EthtoolValue
        {
            public uint Cmd;
            public uint Data;
        }

        /// <summary>struct ifreq on 64-bit Linux: the name, then (here) ifr_data, padded to 40 bytes.</summary>
        [StructLayout(LayoutKind.Explicit, Size = 40)]
        internal unsafe struct IfReqData
        {
            [FieldOffset(0)] public fixed byte Name[16];
            [FieldOffset(16)] public void* Data;
        }

        /// <summary>ioctl(2) with a pointer argument.</summary>
        [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
        internal static unsafe partial int Ioctl(SafeHandle fd, nuint request, void* argument);
    }
}
