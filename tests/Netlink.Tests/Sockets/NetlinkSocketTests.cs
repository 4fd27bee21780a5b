using Fathom.Netlink.Addresses;
using Fathom.Netlink.Links;
using Fathom.Netlink.Sockets;
using Fathom.Netlink.Wire;
using System.Net;
using System.Net.Sockets;

namespace Fathom.Netlink.Tests.Sockets;

/// <summary>
/// The request loop's checks against real sockets in a fresh namespace: replies from anyone but
/// the kernel and replies to an earlier request are dropped; dumps racing with changes still
/// return whole results.
/// </summary>
public sealed class NetlinkSocketTests
{
    [PrivilegedFact("ip")]
    public void A_forged_reply_from_a_user_space_port_is_ignored()
    {
        Privileged.Require("ip");
        using var netns = TestNetns.Create("nl");
        using var handle = Netns.Open(netns.Name);
        Netns.Run(handle, () =>
        {
            using var socket = NetlinkSocket.Open();
            using var forger = NetlinkSocket.Open();
            // An NLMSG_ERROR saying EPERM with exactly the sequence number and port id the next
            // request will carry, sent by another process's socket (root may unicast to any port).
            Forge(forger, socket.PortId, socket.NextSequence, -(int)Errno.EPERM);

            var w = socket.BeginRequest();
            LinkMessages.WriteSetUp(ref w, 1, up: true); // lo up: the kernel says yes
            socket.Execute(ref w, "set lo up");
        });
        Assert.Contains("UP", Shell.IpIn(netns.Name, "link", "show", "lo"));
    }

    [PrivilegedFact("ip")]
    public void A_late_reply_to_an_earlier_request_is_not_taken_for_the_current_one()
    {
        Privileged.Require("ip");
        using var netns = TestNetns.Create("nl");
        using var handle = Netns.Open(netns.Name);
        Netns.Run(handle, () =>
        {
            using var socket = NetlinkSocket.Open();
            // A GET that also asks for an ACK: Get returns on the answer and leaves the ACK
            // (success, earlier sequence number) queued in front of the next reply.
            var get = socket.BeginRequest();
            get.BeginMessage(Rtnl.RTM_GETLINK, Rtnl.NLM_F_ACK);
            LinkMessages.WriteIfInfo(ref get, Rtnl.AF_UNSPEC, 1, 0, 0);
            Assert.Equal("lo", socket.Get(ref get, LinkMessages.Parse, "get lo").Name);

            var e = Assert.Throws<NetlinkException>(() =>
            {
                var delete = socket.BeginRequest();
                LinkMessages.WriteDelete(ref delete, 99999);
                socket.Execute(ref delete, "delete link 99999");
            });
            Assert.Equal(Errno.ENODEV, e.Error);
        });
    }

    [PrivilegedFact("ip")]
    public void Dumps_changed_between_datagrams_are_run_again_and_come_back_whole()
    {
        Privileged.Require("ip");
        using var netns = TestNetns.Create("nl");
        using var handle = Netns.Open(netns.Name);
        using var nl = NetlinkHandle.OpenIn(handle);
        using var writer = NetlinkHandle.OpenIn(handle);
        var link = nl.CreateVeth("va", "vb");
        // ~80 bytes each: eight datagrams of up to 32 KiB. The kernel fills the next datagram or
        // two while the reader receives one (net/netlink/af_netlink.c netlink_recvmsg calls
        // netlink_dump while the queue is under half of rcvbuf), so a short dump is complete
        // before its first message is parsed and a change then could not land inside it.
        const int Stable = 3000;
        const int Rounds = 20;
        for (int i = 0; i < Stable; i++)
            nl.AddAddress(link.Index, new IpPrefix(new IPAddress([10, 60, (byte)(i / 200), (byte)(i % 200 + 1)]), 16));
        // A new primary goes in right after the first 10.60/16 address (net/ipv4/devinet.c
        // __inet_insert_ifa): adding or removing it shifts the position of every other stable
        // address, so a dump that resumes by position repeats or skips one.
        var flapping = IpPrefix.Parse("10.61.0.1/16");

        var (interrupted, counts) = Netns.Run(handle, () =>
        {
            using var socket = NetlinkSocket.Open();
            var stableCounts = new List<int>();
            for (int round = 0; round < Rounds; round++)
            {
                bool changed = false;
                bool add = round % 2 == 0;
                // The change is made while the first datagram of the round's first attempt is being
                // parsed, so the kernel fills the later ones after it: no timing involved. It flags
                // the first of those NLM_F_DUMP_INTR (nl_dump_check_consistent). The retry is not changed.
                ReplyParser<Address> parse = (in NetlinkMessage message) =>
                {
                    if (!changed)
                    {
                        changed = true;
                        if (add) writer.AddAddress(link.Index, flapping);
                        else writer.DeleteAddress(link.Index, flapping);
                    }
                    return AddressMessages.Parse(message);
                };
                var w = socket.BeginRequest();
                AddressMessages.WriteDump(ref w, AddressFamily.InterNetwork);
                var addresses = socket.Dump(ref w, parse, "list addresses");
                stableCounts.Add(addresses.Count(a => a.Prefix.Address.GetAddressBytes()[1] == 60));
            }
            return (socket.InterruptedDumps, stableCounts);
        });

        // With the retry removed, every round comes back torn (one stable address more or fewer).
        Assert.All(counts, count => Assert.Equal(Stable, count));
        Assert.True(interrupted >= Rounds, $"only {interrupted} of {Rounds} dumps were flagged NLM_F_DUMP_INTR");
    }

    [PrivilegedFact("ip")]
    public void A_change_asked_to_echo_returns_what_the_kernel_made_and_its_errors_as_any_change()
    {
        Privileged.Require("ip");
        using var netns = TestNetns.Create("nl");
        using var handle = Netns.Open(netns.Name);
        (Link? made, NetlinkException error) = Netns.Run(handle, () =>
        {
            using var socket = NetlinkSocket.Open();
            var create = socket.BeginRequest();
            LinkMessages.WriteCreateVeth(ref create, "va", "vb", null, null);
            // This kernel echoes RTM_NEWLINK (Linux 6.3 and later); CreateVeth asks with a GET where one does not.
            var echo = socket.ExecuteEcho(ref create, LinkMessages.Parse, "create veth va");
            var e = Assert.Throws<NetlinkException>(() =>
            {
                var again = socket.BeginRequest();
                LinkMessages.WriteCreateVeth(ref again, "va", "vc", null, null);
                socket.ExecuteEcho(ref again, LinkMessages.Parse, "create veth va again");
            });
            return (echo, e);
        });
        Assert.NotNull(made);
        Assert.Equal(("va", "veth"), (made.Name, made.Kind));
        Assert.Contains($"{made.Index}: va@vb", Shell.IpIn(netns.Name, "-o", "link", "show", "va"));
        Assert.Equal(Errno.EEXIST, error.Error);
        Assert.Contains("create veth va again", error.Message);
    }

    private static unsafe void Forge(NetlinkSocket from, uint toPort, uint sequence, int error)
    {
        Span<byte> buffer = stackalloc byte[64];
        var w = new NetlinkWriter(buffer);
        w.BeginMessage(Rtnl.NLMSG_ERROR, 0);
        NativeEndian.WriteInt32(w.Reserve(4), error);
        w.Reserve(Rtnl.HeaderLength);
        w.EndMessage();
        var bytes = w.Written.ToArray();
        NativeEndian.WriteUInt32(bytes.AsSpan(8), sequence);
        NativeEndian.WriteUInt32(bytes.AsSpan(12), toPort);
        var destination = new Interop.SockAddrNetlink { Family = Interop.AF_NETLINK, PortId = toPort };
        fixed (byte* p = bytes)
        {
            nint sent = Interop.SendTo(from.Handle, p, (nuint)bytes.Length, 0, &destination, (uint)sizeof(Interop.SockAddrNetlink));
            Assert.Equal(bytes.Length, (int)sent);
        }
    }
}
