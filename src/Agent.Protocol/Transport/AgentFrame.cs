using System.Buffers.Binary;

namespace Fathom.Agent.Protocol;

/// <summary>
/// Framing: a 4-byte big-endian payload length, then that many bytes of UTF-8 JSON. The length is
/// checked against a bound before anything is allocated, so a broken or hostile peer cannot make
/// the other side allocate more than the bound.
/// </summary>
public static class AgentFrame
{
    /// <summary>Bytes of the length prefix.</summary>
    public const int HeaderBytes = 4;

    /// <summary>Header and payload in one buffer, so a frame goes out in one write.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> payload, int maxBytes = AgentProtocol.MaxFrameBytes)
    {
        if (payload.Length == 0 || payload.Length > maxBytes)
            throw new AgentException(AgentErrorCode.MalformedMessage,
                $"a frame of {payload.Length} bytes is outside 1..{maxBytes}");
        var frame = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(frame, payload.Length);
        payload.CopyTo(frame.AsSpan(HeaderBytes));
        return frame;
    }

    /// <summary>The payload length a header announces, checked against <paramref name="maxBytes"/>.</summary>
    public static int ParseLength(ReadOnlySpan<byte> header, int maxBytes = AgentProtocol.MaxFrameBytes)
    {
        var length = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (length == 0)
            throw new AgentException(AgentErrorCode.MalformedMessage, "empty frame (length 0)");
        if (length > (uint)maxBytes)
            throw new AgentException(AgentErrorCode.MalformedMessage,
                $"frame of {length} bytes exceeds the limit of {maxBytes} bytes");
        return (int)length;
    }

    /// <summary>
    /// Reads one frame's payload, or returns null when the stream ends cleanly before a frame starts.
    /// A stream that ends inside a frame is <see cref="AgentErrorCode.MalformedMessage"/> ("truncated").
    /// </summary>
    public static async ValueTask<byte[]?> ReadAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var header = new byte[HeaderBytes];
        var got = await stream.ReadAtLeastAsync(header, HeaderBytes, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got == 0)
            return null;
        if (got < HeaderBytes)
            throw Truncated(HeaderBytes, got, "header");
        var payload = new byte[ParseLength(header, maxBytes)];
        got = await stream.ReadAtLeastAsync(payload, payload.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (got < payload.Length)
            throw Truncated(payload.Length, got, "payload");
        return payload;
    }

    internal static AgentException Truncated(int expected, int got, string part) =>
        new(AgentErrorCode.MalformedMessage, $"truncated frame: the {part} has {got} of {expected} bytes");
}
