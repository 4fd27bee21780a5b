using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Fathom.Netlink;

namespace Fathom.Lab.Hosting;

/// <summary>
/// Listening sockets made inside a given network namespace. A socket belongs to the netns it
/// was created in for its whole life (net/socket.c __sock_create uses current->nsproxy->net_ns),
/// so one process can serve the VPC netns and the root netns at once: create the socket on a
/// thread inside the netns (<see cref="Netns.Run{T}"/>, a dedicated thread), then hand its fd to
/// Kestrel (<c>ListenHandle</c>), which calls listen() and accepts on any thread.
/// </summary>
internal static class NetnsListener
{
    /// <summary>Binds a TCP socket to <paramref name="endpoint"/> in <paramref name="netns"/> (null: the caller's netns) and returns a fd Kestrel may own.</summary>
    public static (ulong Fd, int Port) Bind(NetnsHandle? netns, IPEndPoint endpoint)
    {
        Socket Create()
        {
            var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(endpoint);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        using var bound = netns is null ? Create() : Netns.Run(netns, Create);
        var port = ((IPEndPoint)bound.LocalEndPoint!).Port;
        // Kestrel wraps the fd in its own owning SafeSocketHandle; give it a duplicate so the
        // two owners never close the same descriptor number.
        var fd = Interop.fcntl_dupfd_cloexec((int)bound.SafeHandle.DangerousGetHandle(), Interop.F_DUPFD_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new InvalidOperationException($"cannot duplicate the listener for {endpoint}: {Marshal.GetPInvokeErrorMessage(errno)} ({errno})");
        }
        return ((ulong)fd, port);
    }
}
