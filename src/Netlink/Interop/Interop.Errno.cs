using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    /// <summary>The errno of the last P/Invoke made with SetLastError, typed.</summary>
    internal static Errno LastErrno => (Errno)Marshal.GetLastPInvokeError();
}
