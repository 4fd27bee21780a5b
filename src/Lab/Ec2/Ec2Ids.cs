using System.Net.NetworkInformation;

namespace Fathom.Lab.Ec2;

/// <summary>EC2 resource id syntax: a prefix and 8 (short, pre-2016) or 17 (long) lower-case hex digits.</summary>
internal static class Ec2Ids
{
    public static bool IsWellFormed(string id, string prefix)
    {
        if (!id.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var hex = id.AsSpan(prefix.Length);
        if (hex.Length is not (8 or 17)) return false;
        foreach (var c in hex)
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        return true;
    }
}

/// <summary>
/// New ids and MACs for the cloud's resources, from the injected random source (deterministic in
/// tests), never one already in use. Callers hold the cloud's writer mutex.
/// </summary>
internal sealed class Ec2IdSource(Random random, Ec2CloudState state)
{
    /// <summary>EC2's long ids: the prefix and 17 lower-case hex digits.</summary>
    public string NewId(string prefix)
    {
        Span<byte> bytes = stackalloc byte[9];
        while (true)
        {
            random.NextBytes(bytes);
            var id = prefix + Convert.ToHexStringLower(bytes)[..17];
            if (!state.Enis.ContainsKey(id) && !state.Instances.ContainsKey(id) && !state.Subnets.ContainsKey(id)
                && !state.SecurityGroups.ContainsKey(id) && !state.Enis.Values.Any(e => e.Attachment?.Id == id))
                return id;
        }
    }

    /// <summary>A locally administered unicast MAC (02:…), as EC2 hands out, unique in the VPC.</summary>
    public PhysicalAddress NewMac()
    {
        while (true)
        {
            var bytes = new byte[6];
            random.NextBytes(bytes.AsSpan(1));
            bytes[0] = 0x02;
            var mac = new PhysicalAddress(bytes);
            if (!state.Enis.Values.Any(e => e.MacAddress.Equals(mac))) return mac;
        }
    }
}
