using System.Globalization;
using System.Runtime.InteropServices;

namespace Fathom.Netlink;

/// <summary>
/// An open network namespace: an <c>O_RDONLY|O_CLOEXEC</c> fd on a bind-mounted namespace file
/// (<c>/run/netns/NAME</c>) or on <c>/proc/PID/ns/net</c>. Holding it keeps the namespace alive
/// even after <c>ip netns del</c>; pass it to <c>setns(2)</c>, to <c>IFLA_NET_NS_FD</c>, or to
/// <see cref="Netns.Run{T}(NetnsHandle, Func{T})"/>. Obtain one from <see cref="Netns"/>.
/// </summary>
public sealed class NetnsHandle : SafeHandle
{
    internal NetnsHandle(int fd, ulong inode, string path) : base(invalidHandleValue: -1, ownsHandle: true)
    {
        SetHandle(fd);
        Inode = inode;
        Path = path;
    }

    /// <summary>The file descriptor. Valid only while this handle is open.</summary>
    public int Fd
    {
        get
        {
            ObjectDisposedException.ThrowIf(IsClosed, this);
            return (int)handle;
        }
    }

    /// <summary>
    /// The namespace's inode number in nsfs (as in <c>readlink /proc/self/ns/net</c> →
    /// <c>net:[INODE]</c>): two handles with equal inodes refer to the same namespace.
    /// </summary>
    public ulong Inode { get; }

    /// <summary>The path the handle was opened from, for messages.</summary>
    public string Path { get; }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == -1;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;

    /// <inheritdoc/>
    public override string ToString() =>
        string.Concat("netns ", Path, " (net:[", Inode.ToString(CultureInfo.InvariantCulture), "])"); // not interpolated: see IpPrefix's remarks
}
