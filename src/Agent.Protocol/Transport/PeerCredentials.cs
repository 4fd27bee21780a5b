using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Fathom.Agent.Protocol;

/// <summary>Who is on the other end of a Unix socket, as the kernel recorded it at connect(2) (SO_PEERCRED, unix(7)).</summary>
/// <param name="Pid">The peer's process id.</param>
/// <param name="Uid">The peer's effective user id.</param>
/// <param name="Gid">The peer's effective group id.</param>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid)
{
    /// <summary>The credentials of the peer of a connected AF_UNIX stream socket.</summary>
    /// <exception cref="SocketException">getsockopt failed (the socket is not AF_UNIX, or closed).</exception>
    public static unsafe PeerCredentials Of(Socket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Interop.UCred cred;
        var length = (uint)sizeof(Interop.UCred);
        if (Interop.GetSockOptPeerCred(socket.SafeHandle, Interop.SolSocket, Interop.SoPeerCred, &cred, &length) != 0)
            throw new SocketException(Marshal.GetLastPInvokeError());
        return new PeerCredentials(cred.Pid, cred.Uid, cred.Gid);
    }
}
