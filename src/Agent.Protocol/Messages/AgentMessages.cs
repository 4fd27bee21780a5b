using System.Text.Json;

namespace Fathom.Agent.Protocol;

/// <summary>
/// Turns messages into frame payloads and back. Parsing never throws anything but
/// <see cref="AgentException"/>: <see cref="AgentErrorCode.ProtocolVersionMismatch"/> when the peer
/// speaks another version, <see cref="AgentErrorCode.MalformedMessage"/> for everything else.
/// </summary>
public static class AgentMessages
{
    /// <summary>
    /// The UTF-8 JSON of a request: written by hand (<see cref="AgentRequestWriter"/>, the same bytes
    /// as the serializer's), so the plugin never builds the serializer's metadata.
    /// </summary>
    public static byte[] Serialize(AgentRequest request) =>
        AgentRequestWriter.TryWrite(request ?? throw new ArgumentNullException(nameof(request)))
        ?? JsonSerializer.SerializeToUtf8Bytes(request, AgentJsonContext.Default.AgentRequest);

    /// <summary>The UTF-8 JSON of a reply.</summary>
    public static byte[] Serialize(AgentReply reply) =>
        JsonSerializer.SerializeToUtf8Bytes(reply, AgentJsonContext.Default.AgentReply);

    /// <summary>Reads a request the agent received.</summary>
    public static AgentRequest ParseRequest(ReadOnlySpan<byte> json)
    {
        CheckVersion(json, "request", "the caller", "this fathom-agent");
        var request = Deserialize(json, AgentJsonContext.Default.AgentRequest, "request");
        if (request is GcRequest gc && gc.ValidAttachments.Any(a => a is null))
            throw new AgentException(AgentErrorCode.MalformedMessage, "malformed gc request: validAttachments holds a null");
        return request;
    }

    /// <summary>
    /// Reads a reply the plugin received, and checks an allocation's fields. The replies of every
    /// ADD, DEL and CHECK are read by hand (<see cref="AgentReplyReader"/>); whatever it does not read
    /// exactly as the serializer would (errors, status, anything unusual) goes to the serializer.
    /// </summary>
    public static AgentReply ParseReply(ReadOnlySpan<byte> json)
    {
        CheckVersion(json, "reply", "fathom-agent", "this plugin");
        var reply = AgentReplyReader.TryRead(json) ?? Deserialize(json, AgentJsonContext.Default.AgentReply, "reply");
        if (reply is AllocatedReply allocated)
            allocated.Allocation.Validate();
        return reply;
    }

    private static T Deserialize<T>(ReadOnlySpan<byte> json, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, string what)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, type)
                ?? throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: null");
        }
        catch (JsonException e)
        {
            throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: {e.Message}", innerException: e);
        }
        catch (InvalidOperationException e)
        {
            // What the reader throws for a string that is not valid UTF-8, where it does not wrap it.
            throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: {e.Message}", innerException: e);
        }
        catch (NotSupportedException e)
        {
            // What System.Text.Json throws for an abstract message without its discriminator.
            throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: no known 'op'/'reply'/'mode' in it", innerException: e);
        }
    }

    /// <summary>
    /// Finds the top-level <c>version</c> before anything else is read, so a peer of another version
    /// is refused by name rather than with whatever its new shape fails on.
    /// </summary>
    private static void CheckVersion(ReadOnlySpan<byte> json, string what, string peer, string self)
    {
        var version = PeekVersion(json, what);
        if (version != AgentProtocol.Version)
            throw new AgentException(AgentErrorCode.ProtocolVersionMismatch,
                $"{peer} speaks agent protocol version {version}, {self} speaks version {AgentProtocol.Version}: " +
                "install the fathom plugin and fathom-agent from the same release");
    }

    internal static int PeekVersion(ReadOnlySpan<byte> json, string what)
    {
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 64 });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: not a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isVersion = reader.ValueTextEquals("version"u8);
                reader.Read();
                if (isVersion)
                {
                    if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var version))
                        throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: 'version' is not an integer");
                    return version;
                }
                reader.Skip();
            }
            throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: no 'version'");
        }
        catch (JsonException e)
        {
            throw new AgentException(AgentErrorCode.MalformedMessage, $"malformed {what}: {e.Message}", innerException: e);
        }
    }
}
