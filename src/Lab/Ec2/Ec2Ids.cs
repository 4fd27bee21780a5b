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
