using System.Diagnostics.CodeAnalysis;
using Fathom.Netlink.Links;
using Fathom.Netlink.Sockets;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

/// <summary>
/// A subscription to RTNLGRP_LINK in one namespace: NICs appearing, changing and vanishing
/// (hot-plug), without polling. Not thread-safe: read from one thread.
/// </summary>
public sealed class LinkWatcher : IDisposable
{
    // RTMGRP_LINK, the legacy bitmask form of RTNLGRP_LINK (include/uapi/linux/rtnetlink.h).
    private const uint RtmgrpLink = 1;
    // A burst (hundreds of links created at once) must not overflow the queue: ask for 4 MiB,
    // forcing past rmem_max when root (SO_RCVBUFFORCE), else whatever SO_RCVBUF grants.
    private const int ReceiveBufferBytes = 4 * 1024 * 1024;

    private readonly NetlinkSocket _socket;
    private readonly Queue<LinkEvent> _pending = new();

    private LinkWatcher(NetlinkSocket socket) => _socket = socket;

    /// <summary>Subscribes in <paramref name="netns"/>, or in the calling thread's namespace when null.</summary>
    public static LinkWatcher Open(NetnsHandle? netns = null) => Open(netns, ReceiveBufferBytes);

    /// <summary>Subscribes with a receive queue of <paramref name="receiveBufferBytes"/> (tests overflow a small one).</summary>
    internal static LinkWatcher Open(NetnsHandle? netns, int receiveBufferBytes)
    {
        var socket = netns is null ? OpenSocket(receiveBufferBytes) : Netns.Run(netns, () => OpenSocket(receiveBufferBytes));
        return new LinkWatcher(socket);
    }

    private static NetlinkSocket OpenSocket(int receiveBufferBytes)
    {
        var socket = NetlinkSocket.Open(RtmgrpLink);
        if (!NetlinkSocket.TrySetOption(socket.Handle, Interop.SOL_SOCKET, Interop.SO_RCVBUFFORCE, receiveBufferBytes))
            NetlinkSocket.TrySetOption(socket.Handle, Interop.SOL_SOCKET, Interop.SO_RCVBUF, receiveBufferBytes);
        return socket;
    }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the next event (<see cref="Timeout.InfiniteTimeSpan"/> waits for ever).
    /// </summary>
    /// <exception cref="NetlinkException">
    /// ENOBUFS when the queue overflowed and events were lost. The queue has then been emptied
    /// (until it is, the kernel drops every new event): relist the links, then read on.
    /// </exception>
    public bool TryRead(TimeSpan timeout, [MaybeNullWhen(false)] out LinkEvent linkEvent)
    {
        long deadline = timeout == Timeout.InfiniteTimeSpan ? long.MaxValue : Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (!_pending.TryDequeue(out linkEvent))
        {
            long left = deadline == long.MaxValue ? -1 : Math.Max(0, deadline - Environment.TickCount64);
            if (!WaitReadable((int)Math.Min(left, int.MaxValue))) return false;
            if (!TryReceive(out var datagram)) continue;
            var reader = new MessageReader(datagram);
            while (reader.TryRead(out var message))
            {
                var kind = message.Type switch
                {
                    Rtnl.RTM_NEWLINK => LinkEventKind.New,
                    Rtnl.RTM_DELLINK => LinkEventKind.Deleted,
                    _ => (LinkEventKind?)null,
                };
                if (kind is { } k && IsLinkItself(message.Payload))
                    _pending.Enqueue(new LinkEvent(k, LinkMessages.Parse(message.Payload)));
            }
        }
        return true;
    }

    /// <summary>The next queued datagram, or false when there is none (or it was not the kernel's).</summary>
    private bool TryReceive(out ReadOnlySpan<byte> datagram)
    {
        try
        {
            return _socket.ReceiveNotification(out datagram) >= 0;
        }
        catch (NetlinkException e) when (e.Error == Errno.ENOBUFS)
        {
            // Events were dropped, and the kernel goes on dropping every new one for this socket
            // until its queue has been emptied (NETLINK_S_CONGESTED, set in netlink_overrun and
            // cleared in netlink_rcv_wake, net/netlink/af_netlink.c). Empty it now, so that the
            // caller's relist comes after the kernel delivers again and no change falls between.
            _pending.Clear();
            while (WaitReadable(0)) _socket.ReceiveNotification(out _);
            throw;
        }
    }

    /// <summary>
    /// True for a notification about the link itself (ifi_family AF_UNSPEC, net/core/rtnetlink.c
    /// rtnl_fill_ifinfo). The bridge sends its port notifications to the same group with
    /// ifi_family AF_BRIDGE (net/bridge/br_netlink.c br_ifinfo_notify), among them an RTM_DELLINK
    /// when a port merely leaves its bridge (br_if.c del_nbp): reported, it would say a link
    /// vanished that is still there.
    /// </summary>
    private static bool IsLinkItself(ReadOnlySpan<byte> payload) =>
        !payload.IsEmpty && payload[0] == Rtnl.AF_UNSPEC;

    private unsafe bool WaitReadable(int timeoutMilliseconds)
    {
        bool added = false;
        try
        {
            _socket.Handle.DangerousAddRef(ref added);
            var poll = new Interop.PollFd { Fd = _socket.Handle.Fd, Events = Interop.POLLIN };
            int ready = Interop.Poll(&poll, 1, timeoutMilliseconds);
            if (ready >= 0) return ready > 0;
            var errno = Interop.LastErrno;
            // An interrupted wait counts as a wake-up: TryRead finds nothing queued (the receive
            // is MSG_DONTWAIT) and waits again for what is left of its time-out. Restarting here
            // with the full time-out would let a stream of signals stretch the wait without end.
            if (errno == Errno.EINTR) return true;
            throw new NetlinkException(errno, "cannot wait for link events");
        }
        finally
        {
            if (added) _socket.Handle.DangerousRelease();
        }
    }

    /// <summary>Unsubscribes.</summary>
    public void Dispose() => _socket.Dispose();
}
