using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Tests.Wire;

/// <summary>The writer's framing rules (include/uapi/linux/netlink.h NLMSG_ALIGN, NLA_ALIGN).</summary>
public sealed class NetlinkWriterTests
{
    [Fact]
    public void Attributes_are_padded_to_four_bytes_with_zeros_and_lengths_exclude_padding()
    {
        Span<byte> buffer = stackalloc byte[64];
        buffer.Fill(0xee); // a reused buffer: stale bytes must not leak into padding
        var w = new NetlinkWriter(buffer);
        w.BeginMessage(1, 0);
        w.PutString(3, "ab");      // 4 + 3 = 7 → padded to 8
        w.PutU8(7, 9);             // 4 + 1 = 5 → padded to 8
        w.EndMessage();

        Assert.Equal("20000000010001000000000000000000" + "07000300" + "61620000" + "05000700" + "09000000",
            Convert.ToHexStringLower(w.Written));
    }

    [Fact]
    public void Nested_attributes_get_their_length_filled_in_afterwards()
    {
        Span<byte> buffer = stackalloc byte[64];
        var w = new NetlinkWriter(buffer);
        w.BeginMessage(16, 0);
        int outer = w.BeginNested(18);
        int inner = w.BeginNested(2);
        w.PutU32(1, 42);
        w.EndNested(inner);
        w.EndNested(outer);
        w.EndMessage();

        Assert.Equal("20000000100001000000000000000000" + "10001200" + "0c000200" + "08000100" + "2a000000",
            Convert.ToHexStringLower(w.Written));
    }

    [Fact]
    public void A_request_larger_than_the_buffer_is_EMSGSIZE()
    {
        var buffer = new byte[24];
        var e = Assert.Throws<NetlinkException>(() =>
        {
            var w = new NetlinkWriter(buffer);
            w.BeginMessage(16, 0);
            w.PutString(3, "much-too-long-for-24-bytes");
        });
        Assert.Equal(Errno.EMSGSIZE, e.Error);
    }

    [Fact]
    public void The_message_reader_walks_aligned_messages_and_rejects_bad_lengths()
    {
        // Two messages: the first 17 bytes long (padded to 20), the second 16.
        var bytes = Convert.FromHexString("11000000030000000100000000000000ff000000" + "10000000030000000200000000000000");
        var reader = new MessageReader(bytes);
        Assert.True(reader.TryRead(out var first));
        Assert.Equal(1u, first.Sequence);
        Assert.Equal(1, first.Payload.Length);
        Assert.True(reader.TryRead(out var second));
        Assert.Equal(2u, second.Sequence);
        Assert.False(reader.TryRead(out _));

        var e = Assert.Throws<NetlinkException>(() =>
        {
            var bad = new MessageReader(Convert.FromHexString("40000000030000000100000000000000"));
            bad.TryRead(out _);
        });
        Assert.Equal(Errno.EPROTO, e.Error);
    }
}
