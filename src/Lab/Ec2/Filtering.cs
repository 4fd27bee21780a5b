using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>EC2 filter semantics: filters AND together, values of one filter OR; values may use * and ? wildcards.</summary>
internal static class Filtering
{
    /// <summary>
    /// Whether a resource passes every filter. <paramref name="values"/> gives a resource's values
    /// for a filter name (null: no such filter → InvalidParameterValue); tag:KEY, tag-key and
    /// tag-value are handled here for resources with <paramref name="tags"/>.
    /// </summary>
    public static bool Matches(IReadOnlyList<Ec2Filter> filters, Func<string, IEnumerable<string>?> values,
        IReadOnlyDictionary<string, string>? tags)
    {
        foreach (var filter in filters)
        {
            IEnumerable<string>? actual = filter.Name switch
            {
                _ when tags is not null && filter.Name.StartsWith("tag:", StringComparison.Ordinal) =>
                    tags.TryGetValue(filter.Name[4..], out var v) ? [v] : [],
                "tag-key" when tags is not null => tags.Keys,
                "tag-value" when tags is not null => tags.Values,
                _ => values(filter.Name),
            };
            if (actual is null)
                throw new Ec2Exception(InvalidParameterValue, $"The filter '{filter.Name}' is invalid");
            if (!actual.Any(a => filter.Values.Any(pattern => Glob(pattern, a)))) return false;
        }
        return true;
    }

    /// <summary>EC2 filter wildcards: * any run of characters, ? exactly one; everything else literal.</summary>
    public static bool Glob(string pattern, string text)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
