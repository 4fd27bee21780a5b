using System.Text.Json.Serialization;

namespace Fathom.Agent.Sticky;

/// <summary>Where a sticky ENI stands with respect to this node (docs/agent.md, "Sticky ENIs").</summary>
public enum StickyPhase
{
    /// <summary>Attached here and held by its pod (an underlay allocation).</summary>
    [JsonStringEnumMemberName("held")]
    Held,

    /// <summary>Attached here, its pod's DEL done: kept for the pod until the retention ends.</summary>
    [JsonStringEnumMemberName("retained")]
    Retained,

    /// <summary>Found attached to another instance; waiting until its old node releases it. No cloud call made yet.</summary>
    [JsonStringEnumMemberName("claiming")]
    Claiming,

    /// <summary>Recorded before the detach from the old instance is asked for.</summary>
    [JsonStringEnumMemberName("detaching")]
    Detaching,

    /// <summary>Recorded before the attach to this instance is asked for.</summary>
    [JsonStringEnumMemberName("attaching")]
    Attaching,

    /// <summary>Retention over: recorded before the ENI is detached and deleted.</summary>
    [JsonStringEnumMemberName("expiring")]
    Expiring,
}

/// <summary>
/// One sticky pod's ENI as this node's agent records it: <c>sticky/&lt;namespace&gt;_&lt;name&gt;.json</c>,
/// written before every cloud call of a hand-over or an expiry, so an agent killed at any point
/// resumes or rolls back on restart (<see cref="StickyEnis"/>).
/// </summary>
public sealed record StickyRecord() : StickyPodRecord<StickyPhase>(FileKind, FormatVersion)
{
    /// <summary>The <see cref="StickyPodRecord{TPhase}.Kind"/> of sticky files.</summary>
    public const string FileKind = "fathom-agent-sticky";

    /// <summary>The format version this agent writes and reads up to.</summary>
    public const int FormatVersion = 1;

    /// <summary>A hand-over's old instance (where the ENI was attached when found).</summary>
    [JsonPropertyOrder(10)]
    public string? OldInstanceId { get; init; }

    /// <summary>A hand-over's old attachment (what the detach names).</summary>
    [JsonPropertyOrder(11)]
    public string? OldAttachmentId { get; init; }

    /// <summary>The ENI kept for the pod.</summary>
    [JsonIgnore]
    public override string Resource => EniId;

    /// <summary>Whether the ENI is (or is about to be) attached to this instance and this node answers for it.</summary>
    [JsonIgnore]
    public override bool IsLocal => Phase is StickyPhase.Held or StickyPhase.Retained;

    /// <inheritdoc/>
    [JsonIgnore]
    public override bool IsRetained => Phase == StickyPhase.Retained;
}

/// <summary>Source-generated JSON of the sticky records (indented: operators read them; AOT: no reflection).</summary>
[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(StickyRecord))]
[JsonSerializable(typeof(StickyIpRecord))]
internal sealed partial class StickyJsonContext : JsonSerializerContext;
