using System.Text.Json.Serialization;

namespace Fathom.Agent.Sticky;

/// <summary>Where a sticky shared pod's IP stands with respect to this node (docs/agent.md, "Sticky pods").</summary>
public enum StickyIpPhase
{
    /// <summary>On one of this node's ENIs and held by its pod (a shared allocation).</summary>
    [JsonStringEnumMemberName("held")]
    Held,

    /// <summary>On one of this node's ENIs, its pod's DEL done: kept for the pod until the retention ends.</summary>
    [JsonStringEnumMemberName("retained")]
    Retained,

    /// <summary>Found on another node's ENI; waiting until that node releases it. No cloud call made yet.</summary>
    [JsonStringEnumMemberName("claiming")]
    Claiming,

    /// <summary>Recorded (with the ENI here it goes to) before the call that moves it onto that ENI.</summary>
    [JsonStringEnumMemberName("moving")]
    Moving,

    /// <summary>Retention over: recorded before its tag is removed and it goes back to the pool.</summary>
    [JsonStringEnumMemberName("expiring")]
    Expiring,
}

/// <summary>
/// One sticky shared pod's IP as this node's agent records it: <c>sticky-ips/&lt;namespace&gt;_&lt;name&gt;.json</c>,
/// written before every cloud call of a hand-over or an expiry, so an agent killed at any point resumes
/// or rolls back on restart (<see cref="StickyIps"/>).
/// </summary>
public sealed record StickyIpRecord() : StickyPodRecord<StickyIpPhase>(FileKind, FormatVersion)
{
    /// <summary>The <see cref="StickyPodRecord{TPhase}.Kind"/> of sticky IP files.</summary>
    public const string FileKind = "fathom-agent-sticky-ip";

    /// <summary>The format version this agent writes and reads up to.</summary>
    public const int FormatVersion = 1;

    /// <summary>The IP kept for the pod.</summary>
    [JsonPropertyOrder(5)]
    public required string Ip { get; init; }

    /// <summary>A hand-over's old ENI (another node's): where the IP was found, whose tag is removed once the IP is here.</summary>
    [JsonPropertyOrder(10)]
    public string? OldEniId { get; init; }

    /// <summary>The key of the pod's tag (<see cref="Cloud.EniTags.StickyIpKey"/>).</summary>
    [JsonIgnore]
    public string TagKey => Cloud.EniTags.StickyIpKey(Namespace, Name);

    /// <summary>The IP kept for the pod.</summary>
    [JsonIgnore]
    public override string Resource => Ip;

    /// <summary>Whether the IP is on this node's ENI and this node answers for it.</summary>
    [JsonIgnore]
    public override bool IsLocal => Phase is StickyIpPhase.Held or StickyIpPhase.Retained;

    /// <inheritdoc/>
    [JsonIgnore]
    public override bool IsRetained => Phase == StickyIpPhase.Retained;
}
