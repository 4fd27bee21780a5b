using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fathom.Datastore;

/// <summary>
/// A lease as both stores write it (a lease file, an etcd value): plain JSON that operators can
/// read with jq. <c>expiresUnixMs</c> is the embedded store's; etcd keeps the TTL in its lease.
/// </summary>
internal sealed record LeaseRecord(
    [property: JsonPropertyName("subnet")] string Subnet,
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("nodeIp")] string NodeIp,
    [property: JsonPropertyName("vtepMac")] string? VtepMac = null,
    [property: JsonPropertyName("vni")] int? Vni = null,
    [property: JsonPropertyName("expiresUnixMs")] long? ExpiresUnixMs = null,
    [property: JsonPropertyName("nodeMac")] string? NodeMac = null)
{
    public static LeaseRecord From(IPNetwork subnet, NodeAttributes node, DateTimeOffset? expires) => new(
        subnet.ToString(), node.NodeName, node.NodeIp.ToString(),
        node.Vtep is null ? null : string.Join(':', node.Vtep.Mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture))),
        node.Vtep?.Vni, expires?.ToUnixTimeMilliseconds(), node.NodeMac is null ? null : Mac(node.NodeMac));

    private static string Mac(PhysicalAddress mac) =>
        string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, DatastoreJson.Default.LeaseRecord);

    /// <summary>Parses and checks a stored record; null (never an exception) when it is not a whole, valid one.</summary>
    public static LeaseRecord? TryParse(ReadOnlySpan<byte> json)
    {
        try
        {
            var r = JsonSerializer.Deserialize(json, DatastoreJson.Default.LeaseRecord);
            return r is not null && r.ToLease(null) is not null ? r : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The lease this record describes, or null when a field does not parse.</summary>
    public SubnetLease? ToLease(DateTimeOffset? expires)
    {
        if (Subnet is null || Node is null || NodeIp is null) return null; // JSON may omit them despite the types
        if (!IPNetwork.TryParse(Subnet, out var subnet) || !IPAddress.TryParse(NodeIp, out var ip)) return null;
        Vtep? vtep = null;
        if (VtepMac is not null || Vni is not null)
        {
            if (VtepMac is null || Vni is null || !PhysicalAddress.TryParse(VtepMac, out var mac) || mac.GetAddressBytes().Length != 6
                || Vni is < 0 or > 0xFFFFFF) return null;
            vtep = new Vtep(mac, Vni.Value);
        }
        if (string.IsNullOrEmpty(Node)) return null;
        PhysicalAddress? nodeMac = null;
        if (NodeMac is not null && (!PhysicalAddress.TryParse(NodeMac, out nodeMac) || nodeMac.GetAddressBytes().Length != 6)) return null;
        var at = expires ?? (ExpiresUnixMs is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null);
        return new SubnetLease(subnet, new NodeAttributes(Node, ip, vtep, nodeMac), at);
    }
}

/// <summary>The etcd store's record of a node's last subnet and of the pool it was cut from.</summary>
internal sealed record NodeRecord([property: JsonPropertyName("subnet")] string Subnet);

/// <summary>The pool a store's data was written for, checked at each start against the configuration.</summary>
internal sealed record PoolRecord(
    [property: JsonPropertyName("clusterCidr")] string ClusterCidr,
    [property: JsonPropertyName("subnetLength")] int SubnetLength);

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LeaseRecord))]
[JsonSerializable(typeof(NodeRecord))]
[JsonSerializable(typeof(PoolRecord))]
internal sealed partial class DatastoreJson : JsonSerializerContext;
