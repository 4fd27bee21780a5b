using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Cloud;

/// <summary>Where an ENI stands with respect to an instance.</summary>
public enum EniAttachmentState
{
    /// <summary>Not attached to any instance ("available").</summary>
    Detached,

    /// <summary>Attach accepted, the device not yet plugged in.</summary>
    Attaching,

    /// <summary>Plugged into the instance.</summary>
    Attached,

    /// <summary>Detach accepted, the device not yet unplugged.</summary>
    Detaching,
}

/// <summary>An elastic network interface, as the cloud describes it.</summary>
/// <param name="EniId">e.g. eni-0123456789abcdef0.</param>
/// <param name="Mac">Its MAC, kept for life: how the node finds the device once attached.</param>
/// <param name="PrimaryIp">The primary private IPv4 address.</param>
/// <param name="SecondaryIps">The secondary private IPv4 addresses.</param>
/// <param name="SubnetId">Its subnet.</param>
/// <param name="SubnetCidr">Its subnet's CIDR (the pod's prefix and gateway come from it).</param>
/// <param name="SecurityGroupIds">Its security groups.</param>
/// <param name="AttachmentState">Whether and how it is attached.</param>
/// <param name="AttachmentId">The attachment (needed to detach); null when detached.</param>
/// <param name="InstanceId">The instance it is attached to; null when detached.</param>
/// <param name="DeviceIndex">Its device index on that instance (0 is the primary ENI); null when detached.</param>
/// <param name="Description">The free text it was created with.</param>
/// <param name="Tags">Its tags (<see cref="EniTags"/> for those the agent sets).</param>
public sealed record Eni(
    string EniId,
    PhysicalAddress Mac,
    IPAddress PrimaryIp,
    IReadOnlyList<IPAddress> SecondaryIps,
    string SubnetId,
    IPNetwork SubnetCidr,
    IReadOnlyList<string> SecurityGroupIds,
    EniAttachmentState AttachmentState,
    string? AttachmentId,
    string? InstanceId,
    int? DeviceIndex,
    string Description,
    IReadOnlyDictionary<string, string> Tags)
{
    private readonly IPAddress? _gateway;

    /// <summary>
    /// The router of its subnet: the first host of the CIDR (as AWS puts it) unless the provider knows
    /// another (a host NIC configured with its own gateway, or one from DHCP).
    /// </summary>
    public IPAddress Gateway
    {
        get => _gateway ?? SubnetInfo.GatewayOf(SubnetCidr);
        init => _gateway = value;
    }
}

/// <summary>What a new ENI should look like.</summary>
public sealed record CreateEniRequest
{
    /// <summary>The subnet to take its addresses from; must be in the instance's availability zone to be attachable.</summary>
    public required string SubnetId { get; init; }

    /// <summary>Its security groups; empty means the VPC's default group.</summary>
    public IReadOnlyList<string> SecurityGroupIds { get; init; } = [];

    /// <summary>Free text shown in the console, e.g. "fathom node-1".</summary>
    public string Description { get; init; } = "";

    /// <summary>Tags applied at creation (atomically with it, so no untagged ENI can leak); see <see cref="EniTags.For"/>.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>Secondary private addresses to assign at creation, besides the primary (0: none).</summary>
    public int SecondaryIpCount { get; init; }

    /// <summary>
    /// Makes the request idempotent where the provider supports it (EC2's ClientToken): a retry
    /// after a time-out then returns the ENI the first attempt made instead of a second one.
    /// <see cref="ResilientCloudProvider"/> fills it in when null, once per call, before retrying.
    /// </summary>
    public string? IdempotencyToken { get; init; }
}

/// <summary>
/// Which ENIs <see cref="ICloudProvider.DescribeEnisAsync"/> returns: every criterion given must
/// hold (AND). Ids that do not exist fail the call with <see cref="CloudErrorKind.NotFound"/>, as
/// EC2 does; tag and instance criteria just match nothing.
/// </summary>
public sealed record EniQuery
{
    /// <summary>Only these ENIs (null: any).</summary>
    public IReadOnlyList<string>? EniIds { get; init; }

    /// <summary>Only ENIs carrying every one of these tags with exactly this value (null: any).</summary>
    public IReadOnlyDictionary<string, string>? Tags { get; init; }

    /// <summary>
    /// Only ENIs carrying every one of these tag keys, whatever their values (EC2's <c>tag-key</c>
    /// filter, one filter per key so they AND): how a sticky shared pod's IP is found by the tag
    /// named after the pod (<see cref="EniTags.StickyIpKey"/>). Null: any.
    /// </summary>
    public IReadOnlyList<string>? TagKeys { get; init; }

    /// <summary>Only ENIs attached to this instance (null: any).</summary>
    public string? AttachedInstanceId { get; init; }

    /// <summary>The ENIs with these ids.</summary>
    public static EniQuery ByIds(params IReadOnlyList<string> eniIds) => new() { EniIds = eniIds };

    /// <summary>The ENIs carrying all these tags.</summary>
    public static EniQuery ByTags(IReadOnlyDictionary<string, string> tags) => new() { Tags = tags };

    /// <summary>The ENIs carrying the tag key <paramref name="key"/> (any value) and all of <paramref name="tags"/>.</summary>
    public static EniQuery ByTagKey(string key, IReadOnlyDictionary<string, string>? tags = null) => new() { TagKeys = [key], Tags = tags };

    /// <summary>The ENIs attached to an instance, the primary included.</summary>
    public static EniQuery ByInstance(string instanceId) => new() { AttachedInstanceId = instanceId };
}
