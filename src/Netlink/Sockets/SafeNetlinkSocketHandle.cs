using System.Runtime.InteropServices;

namespace Fathom.Netlink;

/// <summary>A netlink socket descriptor (opened with SOCK_CLOEXEC so no child process inherits it).</summary>
internal sealed class SafeNetlinkSocketHandle : SafeHandle
{
    /// <summary>For the LibraryImport marshaller, which sets the handle from socket(2)'s result.</summary>
    public SafeNetlinkSocketHandle() : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == -1;

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}
