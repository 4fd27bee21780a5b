using System.Diagnostics.CodeAnalysis;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Fathom.Netlink;

/// <summary>
/// A NETLINK_ROUTE socket bound to one network namespace: every call configures that namespace,
/// whichever namespace the calling thread is in (vishvananda/netlink's <c>Handle</c>).
/// A handle serialises its requests with a lock, so sharing one is safe but not parallel: use one
/// handle per thread to configure namespaces concurrently.
/// </summary>
public sealed partial class NetlinkHandle : IDisposable
{
    /// <summary>Opens a handle on the calling thread's network namespace.</summary>
    public static NetlinkHandle Open() => throw new NotImplementedException();

    /// <summary>
    /// Opens a handle on <paramref name="netns"/>: the socket is created inside it on a dedicated
    /// thread and stays bound to it, without switching the caller's thread.
    /// </summary>
    public static NetlinkHandle OpenIn(NetnsHandle netns) => throw new NotImplementedException();

    /// <summary>Closes the socket.</summary>
    public void Dispose() => throw new NotImplementedException();
}
