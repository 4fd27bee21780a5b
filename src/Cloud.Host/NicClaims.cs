using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fathom.Cloud.Host;

/// <summary>
/// One host NIC the agent took for its pool, and what it learnt of it: the "ENI" the pools see.
/// Kept on disk, because a NIC held by an underlay pod sits in the pod's namespace, out of the
/// node's sight: after a restart only this record says it is the pool's.
/// </summary>
internal sealed record NicClaim
{
    public required string EniId { get; init; }
    public required string Mac { get; init; }
    public required string Name { get; set; }
    public required string Address { get; init; }
    public required string Subnet { get; init; }
    public required string Gateway { get; init; }
    public bool Dhcp { get; init; }
    public IReadOnlyList<string> SecondaryPool { get; init; } = [];
    public List<string> Assigned { get; init; } = [];
    public bool Attached { get; set; }
    public int DeviceIndex { get; set; }
    public Dictionary<string, string> Tags { get; init; } = new(StringComparer.Ordinal);
}

/// <summary>The claims file: <c>{"kind":"fathom-host-nics","version":1,"claims":[…]}</c>, written whole and renamed into place.</summary>
internal sealed record NicClaimsFile
{
    public const string KindName = "fathom-host-nics";

    public string Kind { get; init; } = KindName;
    public int Version { get; init; } = 1;
    public List<NicClaim> Claims { get; init; } = [];

    /// <summary>The claims in <paramref name="path"/>; none when it does not exist.</summary>
    /// <exception cref="CloudException">Invalid: the file is not a claims file of this version (the agent does not guess).</exception>
    public static List<NicClaim> Load(string path)
    {
        if (!File.Exists(path)) return [];
        try
        {
            var file = JsonSerializer.Deserialize(File.ReadAllBytes(path), NicClaimsJson.Default.NicClaimsFile);
            if (file is null || file.Kind != KindName || file.Version != 1)
                throw new JsonException($"not a {KindName} file of version 1");
            return file.Claims;
        }
        catch (JsonException e)
        {
            throw new CloudException(CloudErrorKind.Invalid, "HostNicState", $"cannot read {path}: {e.Message} (move it away to start over: NICs held by pods are then found again as they come back)");
        }
    }

    /// <summary>Writes <paramref name="claims"/> to <paramref name="path"/> atomically (a crash leaves the old or the new file).</summary>
    public static void Save(string path, IEnumerable<NicClaim> claims)
    {
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, JsonSerializer.SerializeToUtf8Bytes(new NicClaimsFile { Claims = [.. claims] }, NicClaimsJson.Default.NicClaimsFile));
        File.Move(tmp, path, overwrite: true);
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(NicClaimsFile))]
internal sealed partial class NicClaimsJson : JsonSerializerContext;
