using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Netlink;

namespace Fathom.Lab.Ec2;

// The emulator's mutable records. They are both the in-memory state and the ec2.json record
// (one source-generated JSON document), so the record and the running lab cannot drift apart.
// Only the cloud's own types touch them, under its locks; the outside world sees Ec2Model.cs
// snapshots. Addresses and MACs are typed here and written as EC2 prints them, so ec2.json
// reads as it always did.

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
    public required IPNetwork Cidr { get; set; }
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
    public required PhysicalAddress MacAddress { get; set; }
    public string Description { get; set; } = "";
    public IPAddress PrivateIp { get; set; } = IPAddress.Any;
    public List<IPAddress> SecondaryIps { get; set; } = [];
    public List<string> SecurityGroupIds { get; set; } = [];
    public Dictionary<string, string> Tags { get; set; } = new(StringComparer.Ordinal);
    public AttachmentRecord? Attachment { get; set; }

    /// <summary>The primary address followed by the secondaries (not in ec2.json: it repeats them).</summary>
    [JsonIgnore]
    public IEnumerable<IPAddress> Addresses => SecondaryIps.Prepend(PrivateIp);
}

internal sealed class AttachmentRecord
{
    public string Id { get; set; } = "";
    public string InstanceId { get; set; } = "";
    public int DeviceIndex { get; set; }
    public AttachmentState Status { get; set; }
    public bool DeleteOnTermination { get; set; }
    public DateTimeOffset AttachTime { get; set; }
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    Converters = [typeof(IPAddressJsonConverter), typeof(IPNetworkJsonConverter), typeof(MacJsonConverter), typeof(AttachmentStateJsonConverter)])]
[JsonSerializable(typeof(Ec2CloudState))]
internal sealed partial class Ec2CloudStateJson : JsonSerializerContext;

// ec2.json is written, never read back (Ec2CloudOptions.StatePath): the converters only write.

internal sealed class IPAddressJsonConverter : JsonConverter<IPAddress>
{
    public override IPAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        IPAddress.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, IPAddress value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

internal sealed class IPNetworkJsonConverter : JsonConverter<IPNetwork>
{
    public override IPNetwork Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        IPNetwork.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, IPNetwork value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
}

internal sealed class MacJsonConverter : JsonConverter<PhysicalAddress>
{
    public override PhysicalAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        LabLayout.ParseMac(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, PhysicalAddress value, JsonSerializerOptions options) =>
        writer.WriteStringValue(InterfaceNames.FormatMac(value));
}

internal sealed class AttachmentStateJsonConverter : JsonConverter<AttachmentState>
{
    public override AttachmentState Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        AttachmentStateNames.Parse(reader.GetString()!);

    public override void Write(Utf8JsonWriter writer, AttachmentState value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToWire());
}
