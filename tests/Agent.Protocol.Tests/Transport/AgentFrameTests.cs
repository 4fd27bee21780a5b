using System.Buffers.Binary;

namespace Fathom.Agent.Protocol.Tests.Transport;

public sealed class AgentFrameTests
{
    [Fact]
    public async Task A_frame_is_a_big_endian_length_then_the_payload()
    {
        var frame = AgentFrame.Encode("{}"u8);
        Assert.Equal(new byte[] { 0, 0, 0, 2, (byte)'{', (byte)'}' }, frame);
        var read = await AgentFrame.ReadAsync(new MemoryStream(frame), 16, CancellationToken.None);
        Assert.Equal("{}"u8.ToArray(), read);
    }

    [Fact]
    public async Task A_clean_end_before_a_frame_is_null()
    {
        Assert.Null(await AgentFrame.ReadAsync(new MemoryStream(), 16, CancellationToken.None));
    }

    [Theory]
    [InlineData(new byte[] { 0, 0 }, "header has 2 of 4 bytes")]
    [InlineData(new byte[] { 0, 0, 0, 5, 1, 2 }, "payload has 2 of 5 bytes")]
    [InlineData(new byte[] { 0, 0, 0, 0 }, "empty frame")]
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, "4294967295 bytes exceeds the limit of 16 bytes")]
    [InlineData(new byte[] { 0, 0, 0, 17 }, "17 bytes exceeds the limit of 16 bytes")]
    public async Task Truncated_empty_and_oversized_frames_are_malformed(byte[] bytes, string says)
    {
        var e = await Assert.ThrowsAsync<AgentException>(() => AgentFrame.ReadAsync(new MemoryStream(bytes), 16, CancellationToken.None).AsTask());
        Assert.Equal(AgentErrorCode.MalformedMessage, e.Code);
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encoding_refuses_what_the_peer_would_refuse()
    {
        Assert.Throws<AgentException>(() => AgentFrame.Encode([]));
        Assert.Throws<AgentException>(() => AgentFrame.Encode(new byte[17], maxBytes: 16));
        Span<byte> header = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, 16);
        Assert.Equal(16, AgentFrame.ParseLength(header, 16));
    }
}
