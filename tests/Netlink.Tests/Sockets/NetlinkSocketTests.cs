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
    public void Dumps_racing_with_changes_return_whole_results()
    {
        Privileged.Require("ip");
        using var netns = TestNetns.Create("nl");
        using var handle = Netns.Open(netns.Name);
        using var nl = NetlinkHandle.OpenIn(handle);
        var link = nl.CreateVeth("va", "vb");
        const int Stable = 1000;
        for (int i = 0; i < Stable; i++)
            nl.AddAddress(link.Index, new IpPrefix(new IPAddress([10, 60, (byte)(i / 200), (byte)(i % 200 + 1)]), 16));

        using var stop = new CancellationTokenSource();
        var churn = new Thread(() =>
        {
            using var writer = NetlinkHandle.OpenIn(handle);
            var flapping = IpPrefix.Parse("10.61.0.1/16");
            while (!stop.IsCancellationRequested)
            {
                writer.AddAddress(link.Index, flapping);
                writer.DeleteAddress(link.Index, flapping);
                // A change every ~2 ms still lands inside many multi-datagram dumps, but leaves
                // a retry room to finish: flapping flat out on a loaded 2-core machine interrupted
                // 10 dumps in a row (the library's bound, NetlinkSocket.MaxDumpAttempts).
                Thread.Sleep(2);
            }
        });
        churn.Start();
        int interrupted;
        try
        {
            interrupted = Netns.Run(handle, () =>
            {
                using var socket = NetlinkSocket.Open();
                for (int round = 0; round < 100; round++)
                {
                    var w = socket.BeginRequest();
                    AddressMessages.WriteDump(ref w, AddressFamily.InterNetwork);
                    var addresses = socket.Dump(ref w, AddressMessages.Parse, "list addresses");
                    // Every stable address in every result, never a torn dump.
                    Assert.Equal(Stable, addresses.Count(a => a.Prefix.Address.GetAddressBytes()[1] == 60));
                }
                return socket.InterruptedDumps;
            });
        }
        finally
        {
            stop.Cancel();
            churn.Join();
        }
        // ~1000 addresses span several datagrams, so the kernel flags a few dumps of each run
        // NLM_F_DUMP_INTR (net/ipv4/devinet.c inet_dump_ifaddr, nl_dump_check_consistent). With the
        // retry removed this test fails: torn dumps held 999 or 1001 of the stable addresses.
        // Not asserted > 0, since whether a dump is interrupted depends on timing.
        Console.WriteLine($"{interrupted} of 100 dumps were flagged NLM_F_DUMP_INTR and run again");
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
