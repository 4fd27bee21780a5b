using System.Net;

namespace Fathom.Lab.Ec2;

// The public, immutable view of the emulated cloud. Ec2Cloud keeps its own mutable records
// (Ec2CloudState.cs) and hands out these snapshots, so a caller (the lab's realization, IMDS)
// can never change state behind the API's back or observe a half-applied action.

/// <summary>The lab's settings for one emulated VPC.</summary>
public sealed class Ec2CloudOptions
{
    /// <summary>The VPC's id ("vpc-" + 17 hex digits); null picks one from the injected random source.</summary>
    public string? VpcId { get; init; }

    /// <summary>The VPC's CIDR; every subnet must lie inside it.</summary>
    public IPNetwork VpcCidr { get; init; } = IPNetwork.Parse("10.0.0.0/16");

    /// <summary>The region the lab pretends to be; AZ names usually start with it.</summary>
    public string Region { get; init; } = "us-east-1";

    /// <summary>The account that "owns" everything (OwnerId in responses).</summary>
    public string AccountId { get; init; } = "123456789012";

    /// <summary>The AMI id reported for every instance.</summary>
    public string ImageId { get; init; } = "ami-0fa7b3c9d1e2f4a56";

    /// <summary>
    /// When set, the whole state is written here (atomically: temp file + rename) after every
    /// successful mutation: a record to inspect (the lab's ec2.json), never read back — a lab
    /// server builds its VPC from nothing (docs/lab.md, State).
    /// </summary>
    public string? StatePath { get; init; }

    /// <summary>
    /// Private IPv4 addresses an ENI may hold while it is not attached to any instance. EC2 checks
    /// an ENI's addresses against the instance type when it is attached; before that the lab caps
    /// it at the largest figure of its table (m5.24xlarge: 50).
    /// </summary>
    public int MaxIpsPerUnattachedEni { get; init; } = 50;

    /// <summary>The instance types the lab knows; defaults to <see cref="InstanceTypeLimits.Known"/>.</summary>
    public IReadOnlyList<InstanceTypeLimits> InstanceTypes { get; init; } = InstanceTypeLimits.Known;
}

/// <summary>The lab's API credentials: requests must be signed (SigV4) with this key pair.</summary>
/// <param name="AccessKeyId">The access key id (AWS_ACCESS_KEY_ID).</param>
/// <param name="SecretAccessKey">The secret (AWS_SECRET_ACCESS_KEY).</param>
public sealed record Ec2Credentials(string AccessKeyId, string SecretAccessKey)
{
    /// <summary>
    /// How far a request's X-Amz-Date may be from the server's clock (AWS allows 15 minutes;
    /// later → RequestExpired). Null disables the check.
    /// </summary>
    public TimeSpan? MaxClockSkew { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Credentials that are obviously a lab's, for in-process tests (every real lab makes its own).</summary>
    public static Ec2Credentials Lab { get; } = new("AKIAFATHOMLAB0000001", "fathom-lab-secret-key/doNotUseInProduction0");

    /// <inheritdoc/>
    public override string ToString() => $"Ec2Credentials {{ AccessKeyId = {AccessKeyId} }}";
}

/// <summary>The networking limits of one EC2 instance type (DescribeInstanceTypes NetworkInfo).</summary>
/// <param name="Name">e.g. "c5.4xlarge".</param>
/// <param name="MaximumNetworkInterfaces">ENIs an instance may have attached, the primary included.</param>
/// <param name="Ipv4AddressesPerInterface">Private IPv4 addresses per ENI, the primary included.</param>
/// <param name="Ipv6AddressesPerInterface">IPv6 addresses per ENI (reported, not emulated).</param>
/// <param name="VCpus">Default vCPUs (reported only).</param>
/// <param name="MemoryMiB">Memory in MiB (reported only).</param>
public sealed record InstanceTypeLimits(string Name, int MaximumNetworkInterfaces, int Ipv4AddressesPerInterface,
    int Ipv6AddressesPerInterface, int VCpus, long MemoryMiB)
{
    /// <summary>
    /// AWS's published figures (DESIGN.md §6; "IP addresses per network interface per instance
    /// type" in the EC2 user guide). Max pods by the AWS formula = ENIs × (IPs − 1) + 2.
    /// </summary>
    public static IReadOnlyList<InstanceTypeLimits> Known { get; } =
    [
        new("t3.small", 3, 4, 4, 2, 2048),
        new("t3.medium", 3, 6, 6, 2, 4096),
        new("m5.large", 3, 10, 10, 2, 8192),
        new("m5.xlarge", 4, 15, 15, 4, 16384),
        new("c5.4xlarge", 8, 30, 30, 16, 32768),
        new("m5.24xlarge", 15, 50, 50, 96, 393216),
    ];
}

/// <summary>A subnet of the VPC.</summary>
/// <param name="SubnetId">subnet-… id.</param>
/// <param name="VpcId">The VPC it belongs to.</param>
/// <param name="Cidr">Its IPv4 CIDR block.</param>
/// <param name="AvailabilityZone">e.g. "us-east-1a".</param>
/// <param name="Gateway">The VPC router's address in the subnet: the network address + 1 (AWS reserves it).</param>
/// <param name="AvailableIpAddressCount">Free addresses: the block minus the five AWS reserves minus those in use.</param>
/// <param name="Tags">Its tags.</param>
public sealed record Subnet(string SubnetId, string VpcId, IPNetwork Cidr, string AvailabilityZone, IPAddress Gateway,
    int AvailableIpAddressCount, IReadOnlyDictionary<string, string> Tags);

/// <summary>A security group (the lab records membership; it filters nothing).</summary>
public sealed record SecurityGroup(string GroupId, string GroupName, string Description, string VpcId,
    IReadOnlyDictionary<string, string> Tags);

/// <summary>An instance (a node of the lab).</summary>
/// <param name="InstanceId">i-… id.</param>
/// <param name="InstanceType">e.g. "m5.large".</param>
/// <param name="NodeName">The lab's name for the node (also its "Name" tag).</param>
/// <param name="SubnetId">The subnet of its primary ENI.</param>
/// <param name="AvailabilityZone">The AZ of that subnet.</param>
/// <param name="PrivateIp">The primary ENI's primary private IPv4.</param>
/// <param name="PrimaryNetworkInterfaceId">The ENI at device index 0.</param>
/// <param name="MacAddress">The primary ENI's MAC.</param>
/// <param name="State">"running" (terminated instances are removed).</param>
/// <param name="LaunchTime">When it was launched.</param>
/// <param name="SecurityGroupIds">The primary ENI's groups.</param>
/// <param name="Tags">Its tags.</param>
public sealed record Instance(string InstanceId, string InstanceType, string NodeName, string SubnetId, string AvailabilityZone,
    IPAddress PrivateIp, string PrimaryNetworkInterfaceId, string MacAddress, string State, DateTimeOffset LaunchTime,
    IReadOnlyList<string> SecurityGroupIds, IReadOnlyDictionary<string, string> Tags);

/// <summary>An elastic network interface.</summary>
/// <param name="NetworkInterfaceId">eni-… id.</param>
/// <param name="SubnetId">Its subnet.</param>
/// <param name="VpcId">Its VPC.</param>
/// <param name="AvailabilityZone">Its subnet's AZ.</param>
/// <param name="MacAddress">"02:xx:xx:xx:xx:xx", lower case; kept for the ENI's whole life.</param>
/// <param name="Description">Free text.</param>
/// <param name="PrivateIp">The primary private IPv4.</param>
/// <param name="SecondaryPrivateIps">Secondary private IPv4s, in assignment order.</param>
/// <param name="SecurityGroupIds">Its groups.</param>
/// <param name="Tags">Its tags.</param>
/// <param name="Status">"available" or "in-use" (EC2's NetworkInterfaceStatus).</param>
/// <param name="Attachment">Its attachment, or null when available.</param>
public sealed record NetworkInterface(string NetworkInterfaceId, string SubnetId, string VpcId, string AvailabilityZone,
    string MacAddress, string Description, IPAddress PrivateIp, IReadOnlyList<IPAddress> SecondaryPrivateIps,
    IReadOnlyList<string> SecurityGroupIds, IReadOnlyDictionary<string, string> Tags, string Status,
    NetworkInterfaceAttachment? Attachment)
{
    /// <summary>The primary address followed by the secondaries.</summary>
    public IEnumerable<IPAddress> AllPrivateIps => SecondaryPrivateIps.Prepend(PrivateIp);
}

/// <summary>An ENI's attachment to an instance.</summary>
/// <param name="AttachmentId">eni-attach-… id.</param>
/// <param name="InstanceId">The instance.</param>
/// <param name="DeviceIndex">EC2 DeviceIndex (eth{DeviceIndex} in the instance).</param>
/// <param name="Status">Attaching (during the fault plan's attach latency), then Attached.</param>
/// <param name="DeleteOnTermination">Whether terminating the instance deletes the ENI.</param>
/// <param name="AttachTime">When the attach was requested.</param>
public sealed record NetworkInterfaceAttachment(string AttachmentId, string InstanceId, int DeviceIndex, AttachmentState Status,
    bool DeleteOnTermination, DateTimeOffset AttachTime);

/// <summary>The states of an ENI's attachment the lab goes through (EC2's AttachmentStatus, less detaching/detached: a detach is immediate).</summary>
public enum AttachmentState
{
    /// <summary>Accepted and holding its device index; the ENI is not plugged in yet (the fault plan's attach latency).</summary>
    Attaching,
    /// <summary>Plugged into the instance.</summary>
    Attached,
}

/// <summary>EC2's spelling of <see cref="AttachmentState"/> in answers, filters and ec2.json.</summary>
public static class AttachmentStateNames
{
    /// <summary>"attaching" or "attached", as EC2 writes them.</summary>
    public static string ToWire(this AttachmentState status) => status switch
    {
        AttachmentState.Attaching => "attaching",
        AttachmentState.Attached => "attached",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    /// <summary>The status EC2 spells <paramref name="wire"/>.</summary>
    /// <exception cref="FormatException">Not a status the lab knows.</exception>
    public static AttachmentState Parse(string wire) => wire switch
    {
        "attaching" => AttachmentState.Attaching,
        "attached" => AttachmentState.Attached,
        _ => throw new FormatException($"unknown attachment status '{wire}'"),
    };
}

/// <summary>What CreateNetworkInterface asks for.</summary>
public sealed class CreateNetworkInterfaceSpec
{
    /// <summary>The subnet (required).</summary>
    public required string SubnetId { get; init; }

    /// <summary>Security groups; empty means the VPC's default group.</summary>
    public IReadOnlyList<string> SecurityGroupIds { get; init; } = [];

    /// <summary>Description.</summary>
    public string Description { get; init; } = "";

    /// <summary>A requested primary address, else one is picked.</summary>
    public IPAddress? PrivateIp { get; init; }

    /// <summary>Requested secondary addresses.</summary>
    public IReadOnlyList<IPAddress> SecondaryPrivateIps { get; init; } = [];

    /// <summary>How many secondary addresses to pick (exclusive with <see cref="SecondaryPrivateIps"/>).</summary>
    public int SecondaryPrivateIpCount { get; init; }

    /// <summary>Tags applied at creation.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// EC2's ClientToken: a create repeated with the same token (a client retrying after a
    /// time-out) returns the ENI the first one made instead of a second one.
    /// </summary>
    public string? ClientToken { get; init; }
}
