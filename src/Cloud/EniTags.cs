using System.Globalization;

namespace Fathom.Cloud;

/// <summary>
/// The tags the agent puts on every ENI it creates, so a periodic sweep can find the ENIs of a
/// node that no longer exists (DESIGN.md §4; the AWS VPC CNI does the same with
/// <c>node.k8s.amazonaws.com/instance_id</c> and <c>cluster.k8s.amazonaws.com/name</c>).
/// </summary>
public static class EniTags
{
    /// <summary>The cluster the ENI belongs to.</summary>
    public const string Cluster = "fathom.io/cluster";

    /// <summary>The node (Kubernetes node name) whose agent created the ENI.</summary>
    public const string Node = "fathom.io/node";

    /// <summary>When the ENI was created, ISO 8601 UTC: a sweep leaves young unattached ENIs alone (they may be mid-attach).</summary>
    public const string CreatedAt = "fathom.io/created-at";

    /// <summary>
    /// The pod (<c>namespace/name</c>) a sticky ENI belongs to (issue 11 §3): another node's agent finds
    /// the ENI by it when the pod comes back there. Present for as long as the ENI is kept for the pod.
    /// </summary>
    public const string Sticky = "fathom.io/sticky";

    /// <summary>
    /// On a sticky ENI whose pod's DEL is done (the ENI back on its node, unused): when, in Unix
    /// seconds. Another node may take the ENI only once it is there (or the ENI is detached); the
    /// node that takes it removes it.
    /// </summary>
    public const string StickyReleased = "fathom.io/sticky-released";

    /// <summary>The <see cref="Sticky"/> value of a pod.</summary>
    public static string StickyValue(string podNamespace, string podName) => $"{podNamespace}/{podName}";

    /// <summary>Reads <see cref="StickyReleased"/> back; null when absent or not a number.</summary>
    public static DateTimeOffset? StickyReleasedAt(IReadOnlyDictionary<string, string> tags) =>
        tags.TryGetValue(StickyReleased, out var text) && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? DateTimeOffset.FromUnixTimeSeconds(seconds)
            : null;

    /// <summary>The <see cref="StickyReleased"/> value for <paramref name="at"/>.</summary>
    public static string StickyReleasedValue(DateTimeOffset at) => at.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);

    /// <summary>The three tags for an ENI created now by <paramref name="node"/> of <paramref name="cluster"/>.</summary>
    public static IReadOnlyDictionary<string, string> For(string cluster, string node, DateTimeOffset createdAt)
    {
        ArgumentException.ThrowIfNullOrEmpty(cluster);
        ArgumentException.ThrowIfNullOrEmpty(node);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [Cluster] = cluster,
            [Node] = node,
            [CreatedAt] = createdAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        };
    }

    /// <summary>Reads <see cref="CreatedAt"/> back; null when absent or not a timestamp.</summary>
    public static DateTimeOffset? CreatedAtOf(IReadOnlyDictionary<string, string> tags) =>
        tags.TryGetValue(CreatedAt, out var text) &&
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at
            : null;
}
