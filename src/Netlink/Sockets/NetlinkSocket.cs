using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Sockets;

/// <summary>Parses one reply message; null skips it (another family, a filtered-out entry).</summary>
internal delegate T? ReplyParser<T>(in NetlinkMessage message) where T : class;

/// <summary>
/// A NETLINK_ROUTE socket and its request loop, after vishvananda/netlink nl/nl_linux.go
/// (NetlinkRequest.Execute): requests carry a sequence number; replies are read until the ACK,
/// the single answer or NLMSG_DONE; a datagram not sent by the kernel (nl_pid != 0) or a message
/// with another sequence number or port id is dropped; an interrupted dump is run again.
/// Not thread-safe: <see cref="NetlinkHandle"/> serialises access.
/// </summary>
internal sealed class NetlinkSocket : IDisposable
{
    private const int SendBufferSize = 16 * 1024;
    // The kernel sizes dump datagrams from the reader's buffer up to 32 KiB (net/netlink/af_netlink.c
    // netlink_recvmsg: max_recvmsg_len capped at SKB_WITH_OVERHEAD(32768)); bigger single messages
    // are handled by peeking at the size first.
    private const int ReceiveBufferSize = 32 * 1024;
    private const int MaxDumpAttempts = 10;

    private readonly SafeNetlinkSocketHandle _handle;
    private readonly NativeBuffer _send;
    private NativeBuffer _receive;
    private uint _sequence;

    private NetlinkSocket(SafeNetlinkSocketHandle handle, uint portId)
    {
        _handle = handle;
        PortId = portId;
        _send = new NativeBuffer(SendBufferSize);
        _receive = new NativeBuffer(ReceiveBufferSize);
        // Start somewhere unpredictable so a reply to an earlier socket that reused this port id
        // cannot match by accident.
        _sequence = (uint)Random.Shared.Next(1, int.MaxValue);
    }

    /// <summary>The port id the kernel assigned (nl_pid of our address; replies carry it).</summary>
    public uint PortId { get; }

    internal SafeNetlinkSocketHandle Handle => _handle;

    /// <summary>The sequence number the next request will carry (for tests that forge replies).</summary>
    internal uint NextSequence => _sequence + 1 == 0 ? 1 : _sequence + 1;

    /// <summary>How many dumps were run again because the kernel flagged them interrupted, over this socket's life.</summary>
    internal int InterruptedDumps { get; private set; }

    /// <summary>
    /// Opens a NETLINK_ROUTE socket (or, with <paramref name="protocol"/>, another netlink family's:
    /// NETLINK_NETFILTER) in the calling thread's namespace, joined to <paramref name="groups"/> (RTMGRP_* bits).
    /// </summary>
    public static unsafe NetlinkSocket Open(uint groups = 0, int protocol = Interop.NETLINK_ROUTE)
    {
        var handle = Interop.Socket(Interop.AF_NETLINK, Interop.SOCK_RAW | Interop.SOCK_CLOEXEC, protocol);
        if (handle.IsInvalid)
        {
            var errno = Interop.LastErrno;
            handle.Dispose();
            throw new NetlinkException(errno, protocol == Interop.NETLINK_ROUTE ? "cannot open a NETLINK_ROUTE socket" : $"cannot open a netlink socket of protocol {protocol}");
        }
        try
        {
            // Best effort: extended acks (Linux 4.12) put the kernel's own explanation in the error;
            // capped acks (4.3) stop it echoing our whole request back. Older kernels still work.
            TrySetOption(handle, Interop.SOL_NETLINK, Interop.NETLINK_EXT_ACK, 1);
            TrySetOption(handle, Interop.SOL_NETLINK, Interop.NETLINK_CAP_ACK, 1);
            // Strict checking (4.20) makes the kernel honour dump filters such as RTA_TABLE, as iproute2 asks too.
            TrySetOption(handle, Interop.SOL_NETLINK, Interop.NETLINK_GET_STRICT_CHK, 1);

            var address = new Interop.SockAddrNetlink { Family = Interop.AF_NETLINK, Groups = groups };
            if (Interop.Bind(handle, &address, (uint)sizeof(Interop.SockAddrNetlink)) != 0)
                throw new NetlinkException(Interop.LastErrno, "cannot bind the netlink socket");
            uint length = (uint)sizeof(Interop.SockAddrNetlink);
            if (Interop.GetSockName(handle, &address, &length) != 0)
                throw new NetlinkException(Interop.LastErrno, "cannot read the netlink socket's address");
            return new NetlinkSocket(handle, address.PortId);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public static unsafe bool TrySetOption(SafeNetlinkSocketHandle handle, int level, int name, int value) =>
        Interop.SetSockOpt(handle, level, name, &value, sizeof(int)) == 0;

    /// <summary>A writer over this socket's send buffer for the next request.</summary>
    public NetlinkWriter BeginRequest()
    {
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        return new NetlinkWriter(_send.Span);
    }

    /// <summary>Sends a change (the writer's message must ask for NLM_F_ACK) and waits for the kernel's ACK.</summary>
    public void Execute(ref NetlinkWriter request, string what)
    {
        ThrowIfError(ReceiveAckTo(Send(ref request)), what);
    }

    /// <summary>Sends a non-dump GET and parses its one reply.</summary>
    public T Get<T>(ref NetlinkWriter request, ReplyParser<T> parse, string what) where T : class =>
        TryGet(ref request, parse, what, absent: 0)!;

    /// <summary>
    /// Sends a non-dump GET and parses its one reply; null when the kernel answers
    /// <paramref name="absent"/> (e.g. ENODEV for a link that does not exist; 0: never), which
    /// is an expected outcome, not an exception (STYLE.md §4) — Try… callers sit on the CNI path.
    /// </summary>
    public T? TryGet<T>(ref NetlinkWriter request, ReplyParser<T> parse, string what, Errno absent) where T : class
    {
        var reply = ReceiveReplyTo(Send(ref request));
        if (reply.Type == Rtnl.NLMSG_ERROR)
        {
            var errno = ErrorOf(reply, out var kernelMessage);
            if (absent != 0 && errno == (int)absent) return null;
            if (errno != 0) throw new NetlinkException(errno, what, kernelMessage);
            throw new NetlinkException(Errno.EPROTO, $"{what}: the kernel acknowledged without answering");
        }
        return parse(reply) ?? throw new NetlinkException(Errno.EPROTO, $"{what}: unexpected reply type {reply.Type}");
    }

    /// <summary>
    /// Sends a change with NLM_F_ECHO added to its flags and waits for the kernel's ACK; returns the
    /// kernel's echo of what the change made, parsed — a created link as the kernel holds it, so the
    /// caller needs no GET to learn its index and MAC — or null when no echo it could read came
    /// before the ACK (a kernel that does not echo this request: RTM_NEWLINK echoes since Linux
    /// 6.3). The flag is set here, not by the writer, so the request's bytes stay those of the same
    /// <c>ip</c> command.
    /// </summary>
    public T? ExecuteEcho<T>(ref NetlinkWriter request, ReplyParser<T> parse, string what) where T : class
    {
        var flags = _send.Span[6..8];
        NativeEndian.WriteUInt16(flags, (ushort)(NativeEndian.ReadUInt16(flags) | Rtnl.NLM_F_ECHO));
        uint sequence = Send(ref request);
        T? echo = null;
        while (true)
        {
            // Read straight, as ReceiveAckTo does: an echo cut short is no echo, and the ACK is a datagram of its own.
            int length = Receive(peek: false);
            if (length < 0 || length > _receive.Length) continue;
            var reader = new MessageReader(_receive.Span[..length]);
            while (reader.TryRead(out var message))
            {
                if (!IsReplyTo(message, sequence)) continue;
                if (message.Type == Rtnl.NLMSG_ERROR)
                {
                    ThrowIfError(message, what);
                    return echo;
                }
                try
                {
                    echo ??= parse(message);
                }
                catch (NetlinkException)
                {
                    // An echo this parser cannot read is as good as none: the caller asks again.
                }
            }
        }
    }

    /// <summary>
    /// The first message that answers <paramref name="sequence"/>, skipping datagrams from anyone
    /// but the kernel and replies to earlier requests. That message ends the request, so the rest
    /// of its datagram is not needed.
    /// </summary>
    private NetlinkMessage ReceiveReplyTo(uint sequence)
    {
        while (true)
        {
            int length = Receive();
            if (length < 0) continue;
            var reader = new MessageReader(_receive.Span[..length]);
            while (reader.TryRead(out var message))
                if (IsReplyTo(message, sequence)) return message;
        }
    }

    /// <summary>
    /// <see cref="ReceiveReplyTo"/> for a change: the ACK or the error. Its datagrams are read
    /// straight, without first peeking at their size (one system call per request fewer): the
    /// answer to a change is a datagram of its own, a few hundred bytes at most (capped acks: the
    /// error, our header, the extended-ack text), so one longer than the buffer, cut short, is one
    /// this request does not wait for (a reply to an earlier request) and is skipped.
    /// </summary>
    private NetlinkMessage ReceiveAckTo(uint sequence)
    {
        while (true)
        {
            int length = Receive(peek: false);
            if (length < 0 || length > _receive.Length) continue; // not the kernel's, or cut short: not the ACK
            var reader = new MessageReader(_receive.Span[..length]);
            while (reader.TryRead(out var message))
                if (IsReplyTo(message, sequence) && message.Type == Rtnl.NLMSG_ERROR) return message;
        }
    }

    /// <summary>
    /// Sends a dump request and parses every reply up to NLMSG_DONE. When the kernel flags the
    /// dump NLM_F_DUMP_INTR (the set changed while it was being walked, include/net/netlink.h
    /// nl_dump_check_consistent), the partial result is thrown away and the dump runs again.
    /// </summary>
    public List<T> Dump<T>(ref NetlinkWriter request, ReplyParser<T> parse, string what) where T : class
    {
        for (int attempt = 1; ; attempt++)
        {
            uint sequence = Send(ref request);
            var results = new List<T>();
            bool interrupted = false;
            NetlinkException? failure = null;
            bool done = false;
            while (!done)
            {
                int length = Receive();
                if (length < 0) continue;
                var reader = new MessageReader(_receive.Span[..length]);
                while (reader.TryRead(out var message))
                {
                    if (!IsReplyTo(message, sequence)) continue;
                    if ((message.Flags & Rtnl.NLM_F_DUMP_INTR) != 0) interrupted = true;
                    if (message.Type is Rtnl.NLMSG_DONE or Rtnl.NLMSG_ERROR)
                    {
                        done = true;
                        ThrowIfError(message, what);
                        break;
                    }
                    if (message.Type is Rtnl.NLMSG_NOOP or Rtnl.NLMSG_OVERRUN || failure is not null) continue;
                    try
                    {
                        if (parse(message) is { } item) results.Add(item);
                    }
                    catch (NetlinkException e)
                    {
                        // Keep reading to NLMSG_DONE: a dump left half-read would make the
                        // kernel refuse this socket's next dump with EBUSY (netlink_dump_start).
                        failure = e;
                    }
                }
            }
            if (failure is not null) throw failure;
            if (!interrupted) return results;
            InterruptedDumps++;
            if (attempt == MaxDumpAttempts)
                throw new NetlinkException(Errno.EINTR, $"{what}: the dump was interrupted {MaxDumpAttempts} times in a row");
        }
    }

    /// <summary>
    /// Receives the next datagram of a multicast subscription without blocking; -1 when none is
    /// queued. The caller polls first.
    /// </summary>
    public int ReceiveNotification(out ReadOnlySpan<byte> datagram)
    {
        int length = Receive(Interop.MSG_DONTWAIT);
        datagram = length < 0 ? default : _receive.Span[..length];
        return length;
    }

    private bool IsReplyTo(in NetlinkMessage message, uint sequence) =>
        message.Sequence == sequence && message.PortId == PortId;

    private unsafe uint Send(ref NetlinkWriter request)
    {
        request.EndMessage();
        uint sequence = ++_sequence;
        if (sequence == 0) sequence = ++_sequence;
        NativeEndian.WriteUInt32(_send.Span[8..], sequence);
        var kernel = new Interop.SockAddrNetlink { Family = Interop.AF_NETLINK };
        while (true)
        {
            nint sent = Interop.SendTo(_handle, _send.Pointer, (nuint)request.Length, 0, &kernel, (uint)sizeof(Interop.SockAddrNetlink));
            if (sent >= 0) return sequence;
            var errno = Interop.LastErrno;
            if (errno is Errno.EINTR or Errno.EAGAIN) continue;
            throw new NetlinkException(errno, "cannot send a netlink request");
        }
    }

    /// <summary>
    /// Receives one datagram into the receive buffer, growing it first if the datagram is larger
    /// (MSG_PEEK|MSG_TRUNC reports the real size). Returns -1 for a datagram not sent by the
    /// kernel (dropped) or, with MSG_DONTWAIT, when nothing is queued. Without
    /// <paramref name="peek"/> the datagram is read as it is and its real length returned
    /// (MSG_TRUNC), which may exceed the buffer: the caller reads no further than the buffer.
    /// </summary>
    private unsafe int Receive(int flags = 0, bool peek = true)
    {
        while (true)
        {
            if (peek)
            {
                nint size = Interop.RecvFrom(_handle, _receive.Pointer, (nuint)_receive.Length, flags | Interop.MSG_PEEK | Interop.MSG_TRUNC, null, null);
                if (size < 0)
                {
                    var errno = Interop.LastErrno;
                    if (errno == Errno.EINTR) continue;
                    if (errno == Errno.EAGAIN)
                    {
                        if ((flags & Interop.MSG_DONTWAIT) != 0) return -1;
                        continue;
                    }
                    throw new NetlinkException(errno, "cannot receive from the netlink socket");
                }
                if (size > _receive.Length)
                {
                    _receive.Dispose();
                    _receive = new NativeBuffer((int)size);
                }
            }

            var source = new Interop.SockAddrNetlink();
            uint sourceLength = (uint)sizeof(Interop.SockAddrNetlink);
            nint length = Interop.RecvFrom(_handle, _receive.Pointer, (nuint)_receive.Length,
                peek ? flags : flags | Interop.MSG_TRUNC, &source, &sourceLength);
            if (length < 0)
            {
                var errno = Interop.LastErrno;
                if (errno is Errno.EINTR or Errno.EAGAIN) continue;
                throw new NetlinkException(errno, "cannot receive from the netlink socket");
            }
            // Only the kernel may answer (nl_pid 0); any other sender could forge replies.
            return source.PortId == 0 ? (int)length : -1;
        }
    }

    /// <summary>
    /// Throws for an NLMSG_ERROR with a non-zero error or an NLMSG_DONE carrying one, with the
    /// extended-ack text (include/uapi/linux/netlink.h struct nlmsgerr, enum nlmsgerr_attrs).
    /// </summary>
    internal static void ThrowIfError(in NetlinkMessage message, string what)
    {
        if (ErrorOf(message, out string? kernelMessage) is int errno and not 0)
            throw new NetlinkException(errno, what, kernelMessage);
    }

    /// <summary>The positive errno an ERROR or DONE message carries (0 for an ACK or a clean end), and its ext-ack text.</summary>
    internal static int ErrorOf(in NetlinkMessage message, out string? kernelMessage)
    {
        kernelMessage = null;
        var payload = message.Payload;
        if (message.Type == Rtnl.NLMSG_DONE && payload.Length < 4) return 0; // very old kernels send an empty DONE
        int error = Malformed.I32(payload, "netlink error code");
        if (error == 0 || (message.Flags & Rtnl.NLM_F_ACK_TLVS) == 0) return -error;

        long tlvOffset = 4;
        if (message.Type == Rtnl.NLMSG_ERROR)
        {
            // The original request's header follows, and its payload too unless the ack is capped.
            // In long: a corrupt echoed length near 4 GiB must not wrap into a valid-looking offset.
            long echoed = Rtnl.HeaderLength;
            if ((message.Flags & Rtnl.NLM_F_CAPPED) == 0)
                echoed = Malformed.U32(payload[4..], "echoed request length");
            tlvOffset = 4 + ((echoed + 3) & ~3L);
        }
        if (tlvOffset <= payload.Length)
        {
            var attributes = new AttributeReader(payload[(int)tlvOffset..]);
            while (attributes.TryRead(out ushort type, out var value))
                if (type == Rtnl.NLMSGERR_ATTR_MSG) kernelMessage = Malformed.String(value);
        }
        return -error;
    }

    public void Dispose()
    {
        if (_handle.IsClosed) return;
        _handle.Dispose();
        _send.Dispose();
        _receive.Dispose();
    }
}
