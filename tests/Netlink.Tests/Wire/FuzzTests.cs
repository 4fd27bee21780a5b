using Fathom.Netlink.Addresses;
using Fathom.Netlink.Links;
using Fathom.Netlink.Neighbors;
using Fathom.Netlink.Routes;
using Fathom.Netlink.Rules;
using Fathom.Netlink.Sockets;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Tests.Wire;

/// <summary>
/// Malformed input of any kind — random bytes, captured datagrams truncated at every length,
/// captured datagrams with bytes flipped — ends in <see cref="NetlinkException"/> or parses; never
/// in any other exception (an out-of-range index, an <see cref="ArgumentException"/> from
/// <c>IPAddress</c>, ...). Seeded, so a failure reproduces.
/// </summary>
public sealed class FuzzTests
{
    private static readonly string[] Captures =
    [
        CapturedReplies.LinkVeth, CapturedReplies.LinkVxlan, CapturedReplies.LinkMacvlan, CapturedReplies.LinkBridge,
        CapturedReplies.AddressDump, CapturedReplies.AddressDone, CapturedReplies.RouteDump, CapturedReplies.RuleDump,
        CapturedReplies.NeighborDump, CapturedReplies.FdbDump, CapturedReplies.RouteError,
    ];

    /// <summary>Everything the library does with a received datagram: walk it, parse each message every way, read errors.</summary>
    private static void Consume(ReadOnlySpan<byte> datagram)
    {
        var reader = new MessageReader(datagram);
        while (reader.TryRead(out var message))
        {
            LinkMessages.Parse(message.Payload);
            AddressMessages.Parse(message.Payload);
            RouteMessages.Parse(message.Payload);
            RuleMessages.Parse(message.Payload);
            NeighborMessages.ParseNeighbor(message.Payload);
            NeighborMessages.ParseFdb(message.Payload);
            if (message.Type is Rtnl.NLMSG_ERROR or Rtnl.NLMSG_DONE) NetlinkSocket.ErrorOf(message, out _);
        }
    }

    private static void OnlyNetlinkException(ReadOnlySpan<byte> datagram, string what)
    {
        try
        {
            Consume(datagram);
        }
        catch (NetlinkException)
        {
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}\n{Convert.ToHexStringLower(datagram)}");
        }
    }

    /// <summary>Each payload parser on its own, bypassing the message reader's length checks.</summary>
    private static void OnlyNetlinkExceptionFromParsers(ReadOnlySpan<byte> payload, string what)
    {
        foreach (var parse in new Action<byte[]>[]
        {
            p => LinkMessages.Parse(p), p => AddressMessages.Parse(p), p => RouteMessages.Parse(p),
            p => RuleMessages.Parse(p), p => NeighborMessages.ParseNeighbor(p), p => NeighborMessages.ParseFdb(p),
        })
        {
            try
            {
                parse(payload.ToArray());
            }
            catch (NetlinkException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}\n{Convert.ToHexStringLower(payload)}");
            }
        }
    }

    [Fact]
    public void Captured_datagrams_truncated_at_every_length()
    {
        foreach (var hex in Captures)
        {
            var bytes = Convert.FromHexString(hex);
            for (int length = 0; length <= bytes.Length; length++)
            {
                OnlyNetlinkException(bytes.AsSpan(0, length), $"truncated to {length}");
                if (length >= Rtnl.HeaderLength)
                    OnlyNetlinkExceptionFromParsers(bytes.AsSpan(Rtnl.HeaderLength, length - Rtnl.HeaderLength), $"payload truncated to {length}");
            }
        }
    }

    [Fact]
    public void Captured_datagrams_with_random_bytes_changed()
    {
        var random = new Random(20261128);
        foreach (var hex in Captures)
        {
            var original = Convert.FromHexString(hex);
            for (int round = 0; round < 400; round++)
            {
                var bytes = (byte[])original.Clone();
                int changes = random.Next(1, 6);
                for (int i = 0; i < changes; i++)
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                OnlyNetlinkException(bytes, $"round {round}");
                OnlyNetlinkExceptionFromParsers(bytes.AsSpan(Rtnl.HeaderLength), $"round {round}");
            }
        }
    }

    [Theory]
    [InlineData(0xffffffffu)]
    [InlineData(0x7fffffffu)]
    [InlineData(0x7ffffffdu)]
    [InlineData(21u)]
    public void An_error_whose_echoed_length_is_absurd_is_read_without_its_text(uint echoedLength)
    {
        // NLMSG_ERROR, uncapped, with ext-ack TLVs: the TLVs start after the echoed request, whose
        // length comes from the message itself.
        Span<byte> buffer = stackalloc byte[64];
        var w = new NetlinkWriter(buffer);
        w.BeginMessage(Rtnl.NLMSG_ERROR, Rtnl.NLM_F_ACK_TLVS);
        NativeEndian.WriteInt32(w.Reserve(4), -(int)Errno.EINVAL);
        NativeEndian.WriteUInt32(w.Reserve(Rtnl.HeaderLength), echoedLength);
        w.EndMessage();
        var bytes = w.Written.ToArray();

        OnlyNetlinkException(bytes, $"echoed length {echoedLength}");
        var reader = new MessageReader(bytes);
        Assert.True(reader.TryRead(out var message));
        Assert.Equal((int)Errno.EINVAL, NetlinkSocket.ErrorOf(message, out var text));
        Assert.Null(text);
    }

    [Fact]
    public void Random_bytes()
    {
        var random = new Random(42);
        for (int round = 0; round < 3000; round++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            // Give some rounds a plausible header so the parsers, not only the reader, see noise.
            if (bytes.Length >= Rtnl.HeaderLength && round % 2 == 0)
            {
                NativeEndian.WriteUInt32(bytes, (uint)bytes.Length);
                NativeEndian.WriteUInt16(bytes.AsSpan(4), (ushort)random.Next(0, 40));
            }
            OnlyNetlinkException(bytes, $"round {round}");
            OnlyNetlinkExceptionFromParsers(bytes, $"round {round}");
        }
    }
}
