using System.Text.Json.Serialization;

namespace Fathom.Agent.Protocol;

/// <summary>
/// The agent's answer to one request: one JSON object whose <c>reply</c> names the kind and whose
/// <c>version</c> is <see cref="AgentProtocol.Version"/>.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "reply")]
[JsonDerivedType(typeof(AllocatedReply), "allocated")]
[JsonDerivedType(typeof(DoneReply), "done")]
[JsonDerivedType(typeof(StatusReply), "status")]
[JsonDerivedType(typeof(ErrorReply), "error")]
public abstract record AgentReply
{
    /// <summary>The protocol version the agent speaks.</summary>
    [JsonPropertyName("version")]
    public int Version { get; set; } = AgentProtocol.Version;
}

/// <summary>The answer to <see cref="AllocateRequest"/>: what the plugin wires into the pod.</summary>
public sealed record AllocatedReply : AgentReply
{
    /// <summary>The ENI or IP the attachment now holds.</summary>
    public required Allocation Allocation { get; init; }
}

/// <summary>The answer to Release, Check and Gc when they succeeded.</summary>
public sealed record DoneReply : AgentReply
{
    /// <summary>For Gc: the attachments it released (empty otherwise).</summary>
    public IReadOnlyList<AttachmentRef> Released { get; set; } = [];
}

/// <summary>The answer to <see cref="StatusRequest"/>.</summary>
public sealed record StatusReply : AgentReply
{
    /// <summary>The agent's pools, ENIs and allocations.</summary>
    public required AgentStatus Status { get; init; }
}

/// <summary>A request that failed, as the plugin reports it (CNI error: code, msg, details).</summary>
public sealed record ErrorReply : AgentReply
{
    /// <summary>A CNI code below 100, the agent's own from 100 (<see cref="AgentErrorCode"/>).</summary>
    public required AgentErrorCode Code { get; init; }

    /// <summary>What went wrong, for a human: always says why (e.g. "ENI limit of t3.small reached (3)").</summary>
    public required string Message { get; init; }

    /// <summary>More context, or null.</summary>
    public string? Details { get; init; }
}
