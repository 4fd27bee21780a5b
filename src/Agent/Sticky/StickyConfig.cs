using System.Text.Json.Serialization;
using Fathom.Agent.Protocol;

namespace Fathom.Agent.Sticky;

/// <summary>
/// <c>pools.sticky</c> in agent.json (issue 11 §3): which pods keep their ENI (underlay: and so their IP
/// and MAC) or their secondary IP (shared) when they are deleted and come back, on this node or another. A pod is sticky when its
/// namespace is one of <see cref="Namespaces"/> (or that list is empty) and its name matches one of
/// <see cref="Names"/> (or that list is empty); at least one list must be given. Names are globs
/// (<c>*</c> any run of characters, <c>?</c> one), the way a StatefulSet's pods are named
/// (<c>web-0</c>, <c>web-1</c>: <c>web-*</c>). Both agent-backed modes: <see cref="StickyEnis"/> for
/// underlay pods, <see cref="StickyIps"/> for shared ones.
/// </summary>
public sealed record StickyConfig
{
    /// <summary>Kubernetes namespaces whose pods are sticky (empty: any namespace).</summary>
    public IReadOnlyList<string> Namespaces { get; set; } = [];

    /// <summary>Globs on the pod's name (empty: any name).</summary>
    public IReadOnlyList<string> Names { get; set; } = [];

    /// <summary>How long an ENI (an IP) is kept for its pod after the pod's DEL before it is detached and deleted (goes back to the pool) (default 600 s).</summary>
    public double RetentionSeconds { get; set; } = 600;

    /// <summary>
    /// How long an ADD on another node waits for the old node to release the ENI (its pod's DEL done)
    /// before it fails with code 11 naming the cause (default 20 s, at most 30: the plugin's own bound).
    /// </summary>
    public double HandoverTimeoutSeconds { get; set; } = 20;

    /// <summary>How often the agent looks whether its retained ENIs were taken by another node (default 5 s).</summary>
    public double CheckIntervalSeconds { get; set; } = 5;

    /// <summary><see cref="RetentionSeconds"/> as a span.</summary>
    [JsonIgnore]
    public TimeSpan Retention => TimeSpan.FromSeconds(RetentionSeconds);

    /// <summary>Whether <paramref name="pod"/> is sticky under this config (null: a pod the runtime did not name never is).</summary>
    public bool Matches(PodIdentity? pod)
    {
        if (pod is null || string.IsNullOrEmpty(pod.Namespace) || string.IsNullOrEmpty(pod.Name))
            return false;
        if (Namespaces.Count > 0 && !Namespaces.Contains(pod.Namespace, StringComparer.Ordinal))
            return false;
        return Names.Count == 0 || Names.Any(glob => Glob(glob, pod.Name));
    }

    /// <summary>Null when the config can be used; otherwise what is wrong, naming the field.</summary>
    public string? Validate()
    {
        if (Namespaces.Count == 0 && Names.Count == 0)
            return "pools.sticky needs namespaces or names (or both): with neither, every pod of the cluster would keep its ENI";
        foreach (var ns in Namespaces)
            if (!IsDnsLabel(ns))
                return $"pools.sticky.namespaces has '{ns}', not a Kubernetes namespace (lowercase letters, digits and '-', 63 at most)";
        foreach (var glob in Names)
            if (string.IsNullOrEmpty(glob) || glob.Length > 253 || glob.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.' or '*' or '?')))
                return $"pools.sticky.names has '{glob}', not a pod name glob (lowercase letters, digits, '-', '.', and the wildcards '*' and '?')";
        if (!double.IsFinite(RetentionSeconds) || RetentionSeconds is < 1 or > 7 * 86400)
            return $"pools.sticky.retentionSeconds {RetentionSeconds} is outside 1..604800 (a week)";
        if (!double.IsFinite(HandoverTimeoutSeconds) || HandoverTimeoutSeconds is < 0 or > 30)
            return $"pools.sticky.handoverTimeoutSeconds {HandoverTimeoutSeconds} is outside 0..30 (the plugin gives up after 30 s)";
        if (!double.IsFinite(CheckIntervalSeconds) || CheckIntervalSeconds is < 0.1 or > 3600)
            return $"pools.sticky.checkIntervalSeconds {CheckIntervalSeconds} is outside 0.1..3600";
        return null;
    }

    /// <summary>Whether <paramref name="text"/> matches <paramref name="glob"/> whole (<c>*</c>: any run, <c>?</c>: one character).</summary>
    internal static bool Glob(ReadOnlySpan<char> glob, ReadOnlySpan<char> text)
    {
        // Iterative matching with one backtrack point (the last '*'): linear enough for names of 253 characters.
        int g = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (g < glob.Length && (glob[g] == '?' || glob[g] == text[t]))
            {
                g++;
                t++;
            }
            else if (g < glob.Length && glob[g] == '*')
            {
                star = g++;
                mark = t;
            }
            else if (star >= 0)
            {
                g = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (g < glob.Length && glob[g] == '*') g++;
        return g == glob.Length;
    }

    private static bool IsDnsLabel(string text) =>
        text.Length is > 0 and <= 63 && char.IsAsciiLetterOrDigit(text[0]) && char.IsAsciiLetterOrDigit(text[^1])
        && text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-');
}
