using System.Text.Json.Serialization;

namespace Fathom.Agent.Protocol;

/// <summary>
/// A request from the plugin (or fathomctl) to the agent. On the wire it is one JSON object whose
/// <c>op</c> names the request and whose <c>version</c> is <see cref="AgentProtocol.Version"/>.
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "op")]
[JsonDerivedType(typeof(AllocateRequest), "allocate")]
[JsonDerivedType(typeof(ReleaseRequest), "release")]
[JsonDerivedType(typeof(CheckRequest), "check")]
[JsonDerivedType(typeof(GcRequest), "gc")]
[JsonDerivedType(typeof(StatusRequest), "status")]
public abstract record AgentRequest
{
    /// <summary>The protocol version the sender speaks.</summary>
    [JsonPropertyName("version")]
    public int Version { get; set; } = AgentProtocol.Version;
}

/// <summary>Which datapath a pod gets its network card through (DESIGN §3).</summary>
public enum AllocationMode
{
    /// <summary>A whole ENI moved into the pod.</summary>
    [JsonStringEnumMemberName("underlay")]
    Underlay,

    /// <summary>A secondary IP of an ENI, behind a veth and policy routing.</summary>
    [JsonStringEnumMemberName("shared")]
    Shared,

    /// <summary>An address of the node's leased pod subnet, behind a veth; remote subnets routed via their nodes (issue 10).</summary>
    [JsonStringEnumMemberName("host-gw")]
    HostGw,

    /// <summary>As host-gw, remote subnets reached through the node's VXLAN device (issue 10).</summary>
    [JsonStringEnumMemberName("overlay")]
    Overlay,
}

/// <summary>The Kubernetes pod an attachment is for (from CNI_ARGS K8S_POD_*), for status and logs.</summary>
public sealed record PodIdentity
{
    /// <summary>K8S_POD_NAMESPACE.</summary>
    public required string Namespace { get; init; }

    /// <summary>K8S_POD_NAME.</summary>
    public required string Name { get; init; }

    /// <summary>K8S_POD_UID, when the runtime passes it.</summary>
    public string? Uid { get; init; }
}

/// <summary>One attachment: a container's interface on a network (CNI's key for everything it does).</summary>
public sealed record AttachmentRef
{
    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }
}

/// <summary>ADD: give this attachment an ENI (underlay) or an IP (shared). Idempotent for one attachment.</summary>
public sealed record AllocateRequest : AgentRequest
{
    /// <summary>The network config's <c>name</c>.</summary>
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }

    /// <summary>CNI_NETNS, recorded so a restarted agent can find the pod's devices.</summary>
    public string? NetnsPath { get; init; }

    /// <summary>The mode the pod asked for, or null for the network's default.</summary>
    public AllocationMode? RequestedMode { get; init; }

    /// <summary>Whether the agent may give the other mode when the requested one has nothing free.</summary>
    public bool FallbackAllowed { get; init; }

    /// <summary>The pod, when the runtime said which one.</summary>
    public PodIdentity? Pod { get; init; }
}

/// <summary>DEL: release whatever this attachment holds. Succeeds when it holds nothing (CNI DEL is idempotent).</summary>
public sealed record ReleaseRequest : AgentRequest
{
    /// <summary>The network config's <c>name</c>.</summary>
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }
}

/// <summary>CHECK: does the agent still hold an allocation for this attachment?</summary>
public sealed record CheckRequest : AgentRequest
{
    /// <summary>The network config's <c>name</c>.</summary>
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }
}

/// <summary>GC (CNI spec 1.1): release every allocation on the network that is not in <see cref="ValidAttachments"/>.</summary>
public sealed record GcRequest : AgentRequest
{
    /// <summary>The network config's <c>name</c>.</summary>
    public required string Network { get; init; }

    /// <summary><c>cni.dev/attachments</c>: the attachments the runtime still knows.</summary>
    public required IReadOnlyList<AttachmentRef> ValidAttachments { get; init; }
}

/// <summary>Introspection for <c>fathomctl status</c>: pools, ENIs, allocations.</summary>
public sealed record StatusRequest : AgentRequest;
