using System.Text.Json.Serialization;

namespace Fathom.Agent.Sticky;

/// <summary>
/// What a sticky pod's record says whatever its kind (<see cref="StickyRecord"/> for a sticky ENI,
/// <see cref="StickyIpRecord"/> for a sticky IP): its file's header, the pod, the ENI, the phase, whether
/// the tags say what the record says, when the pod's DEL was seen done. The JSON names are those both
/// kinds always wrote, so an agent reads the records an earlier one left; so is their order in the file
/// (<see cref="JsonPropertyOrderAttribute"/>, here and in each kind: without it the kind's own fields would come first,
/// before <c>kind</c> and <c>version</c>).
/// </summary>
/// <typeparam name="TPhase">The kind's phases (<see cref="StickyPhase"/>, <see cref="StickyIpPhase"/>).</typeparam>
public abstract record StickyPodRecord<TPhase>
    where TPhase : struct, Enum
{
    private protected StickyPodRecord(string fileKind, int formatVersion)
    {
        Kind = fileKind;
        Version = formatVersion;
    }

    /// <summary>What the file is.</summary>
    [JsonPropertyOrder(1)]
    public string Kind { get; set; }

    /// <summary>Its format version.</summary>
    [JsonPropertyOrder(2)]
    public int Version { get; set; }

    /// <summary>The pod's Kubernetes namespace.</summary>
    [JsonPropertyOrder(3)]
    public required string Namespace { get; init; }

    /// <summary>The pod's name.</summary>
    [JsonPropertyOrder(4)]
    public required string Name { get; init; }

    /// <summary>
    /// The ENI kept for the pod (a sticky ENI); the ENI of this node that holds the pod's IP (a sticky IP:
    /// while moving, the one it goes to; empty while claiming).
    /// </summary>
    [JsonPropertyOrder(6)]
    public required string EniId { get; init; }

    /// <summary>Where it stands.</summary>
    [JsonPropertyOrder(7)]
    public required TPhase Phase { get; init; }

    /// <summary>Whether the ENI's tags are known to say what <see cref="Phase"/> says (held or released); false: the agent tags it again.</summary>
    [JsonPropertyOrder(8)]
    public bool TagsInSync { get; init; }

    /// <summary>When the pod's DEL was seen done (phase retained): the retention runs from here.</summary>
    [JsonPropertyOrder(9)]
    public DateTimeOffset? ReleasedAt { get; init; }

    /// <summary>When the record was last written.</summary>
    [JsonPropertyOrder(12)]
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>The pod, <c>namespace/name</c> (as a sticky ENI's tag says it).</summary>
    [JsonIgnore]
    public string Identity => Cloud.EniTags.StickyValue(Namespace, Name);

    /// <summary>What is kept for the pod: the ENI id of a sticky ENI, the IP of a sticky IP (what the pool must not hand out).</summary>
    [JsonIgnore]
    public abstract string Resource { get; }

    /// <summary>Whether what is kept is (or is about to be) this node's and this node answers for it: held or retained.</summary>
    [JsonIgnore]
    public abstract bool IsLocal { get; }

    /// <summary>Whether the pod's DEL is done and what is kept waits here for it (phase retained).</summary>
    [JsonIgnore]
    public abstract bool IsRetained { get; }
}
