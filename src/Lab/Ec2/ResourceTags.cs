using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>EC2's rules for user tags (EC2 user guide, "Tag restrictions").</summary>
internal static class ResourceTags
{
    /// <summary>EC2 allows at most 50 user tags per resource.</summary>
    public const int MaxPerResource = 50;

    /// <summary>
    /// <paramref name="existing"/> with <paramref name="adding"/> merged in (a key's value is
    /// replaced), once every key and value is valid and the result within the limit.
    /// </summary>
    /// <exception cref="Ec2Exception">InvalidParameterValue; TagLimitExceeded.</exception>
    public static Dictionary<string, string> Merge(IReadOnlyDictionary<string, string> adding, Dictionary<string, string> existing)
    {
        var merged = new Dictionary<string, string>(existing, StringComparer.Ordinal);
        foreach (var (key, value) in adding)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 128)
                throw new Ec2Exception(InvalidParameterValue, $"Tag key '{key}' must be 1 to 128 characters.");
            if (key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase))
                throw new Ec2Exception(InvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use");
            if (value.Length > 256)
                throw new Ec2Exception(InvalidParameterValue, $"Tag value for key '{key}' exceeds 256 characters.");
            merged[key] = value;
        }
        if (merged.Count > MaxPerResource)
            throw new Ec2Exception(TagLimitExceeded, $"The maximum number of tags per resource ({MaxPerResource}) would be exceeded.");
        return merged;
    }

    /// <summary>Removes tags as DeleteTags does: a null value deletes the key whatever its value; no tags at all deletes every tag.</summary>
    public static void Delete(Dictionary<string, string> target, IReadOnlyList<KeyValuePair<string, string?>> tags)
    {
        if (tags.Count == 0)
        {
            target.Clear();
            return;
        }
        foreach (var (key, value) in tags)
            if (target.TryGetValue(key, out var current) && (value is null || value == current))
                target.Remove(key);
    }
}
