using System.Text.Json.Serialization;

namespace Fathom.Lab.Ec2;

// The emulator's mutable records. They are both the in-memory state and the ec2.json record
// (one source-generated JSON document), so the record and the running lab cannot drift apart.
// Only Ec2Cloud touches them, under its locks; the outside world sees Ec2Model.cs snapshots.

internal sealed class Ec2CloudState
{
    /// <summary>Format version of ec2.json, for whoever inspects it (the lab never reads it back); bump when records change.</summary>
    public int Version { get; set; } = 1;
    public string VpcId { get; set; } = "";
    public string VpcCidr { get; set; } = "";
    public string DefaultSecurityGroupId { get; set; } = "";
    public Dictionary<string, SubnetRecord> Subnets { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, SecurityGroupRecord> SecurityGroups { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, InstanceRecord> Instances { get; set; } = new(StringComparer.Ordinal);
    public Dictionary<string, EniRecord> Enis { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class SubnetRecord
{
    public string Id { get; set; } = "";
    public string Cidr { get; set; } = "";
    public string AvailabilityZone { get; set; } = "";
    public Dictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class SecurityGroupRecord
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string Description { get; set; } = "";
    public Dictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class InstanceRecord
{
    public string Id { get; set; } = "";
    public string InstanceType { get; set; } = "";
    public string NodeName { get; set; } = "";
    public string SubnetId { get; set; } = "";
    public string PrimaryEniId { get; set; } = "";
    public DateTimeOffset LaunchTime { get; set; }
    public Dictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);
}

internal sealed class EniRecord
{
    public string Id { get; set; } = "";
    public string SubnetId { get; set; } = "";
    public string MacAddress { get; set; } = "";
    public string Description { get; set; } = "";
    public string PrivateIp { get; set; } = "";
    public List<string> SecondaryIps { get; set; } = [];
    public List<string> SecurityGroupIds { get; set; } = [];
    public Dictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);
    public AttachmentRecord? Attachment { get; set; }
}

internal sealed class AttachmentRecord
{
    public string Id { get; set; } = "";
    public string InstanceId { get; set; } = "";
    public int DeviceIndex { get; set; }
    public string Status { get; set; } = "";
    public bool DeleteOnTermination { get; set; }
    public DateTimeOffset AttachTime { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(Ec2CloudState))]
internal sealed partial class Ec2CloudStateJson : JsonSerializerContext;
