using System.Text.Json.Serialization;
using Fathom.Agent.Protocol;

namespace Fathom.Agent.State;

/// <summary>Where an allocation is in its write-ahead life (docs/agent.md, "State").</summary>
public enum AllocationState
{
    /// <summary>
    /// Recorded before the agent acts on it (cloud call, kernel change, reply to the plugin): the
    /// resource is taken, so it can never go to another pod, but the action may not have happened.
    /// A restarted agent reconciles pending records against the kernel and the cloud.
    /// </summary>
    [JsonStringEnumMemberName("pending")]
    Pending,

    /// <summary>The action is done: the attachment holds the resource.</summary>
    [JsonStringEnumMemberName("committed")]
    Committed,
}

/// <summary>One allocation as the agent records it: <c>allocations/&lt;key&gt;.json</c>.</summary>
public sealed record AllocationRecord
{
    /// <summary>The <see cref="Kind"/> of allocation files.</summary>
    public const string FileKind = "fathom-agent-allocation";

    /// <summary>The format version this agent writes and reads up to.</summary>
    public const int FormatVersion = 1;

    /// <summary>What the file is.</summary>
    public string Kind { get; set; } = FileKind;

    /// <summary>Its format version.</summary>
    public int Version { get; set; } = FormatVersion;

    /// <summary>Pending or committed.</summary>
    public required AllocationState State { get; init; }

    /// <summary>The network's name.</summary>
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }

    /// <summary>CNI_NETNS of the ADD, where a restarted agent looks for the pod's devices.</summary>
    public string? NetnsPath { get; init; }

    /// <summary>The pod, when the runtime said.</summary>
    public PodIdentity? Pod { get; init; }

    /// <summary>The ENI or IP held.</summary>
    public required Allocation Allocation { get; init; }

    /// <summary>When the allocation was recorded.</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>When it was committed, or null while pending.</summary>
    public DateTimeOffset? CommittedAt { get; init; }

    /// <summary>The attachment that holds it.</summary>
    [JsonIgnore]
    public AttachmentKey Key => new(Network, ContainerId, IfName);
}

/// <summary>A second attachment asked for a resource an attachment already holds; nothing was recorded.</summary>
public sealed class AllocationConflictException(string message) : Exception(message);
