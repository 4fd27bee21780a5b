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

    /// <summary>
    /// The prefix of the tag a sticky shared pod's IP carries on the ENI that holds it (issue 11 §3):
    /// key <c>fathom.io/sticky-ip/&lt;namespace&gt;/&lt;name&gt;</c>, one key per pod, so another node's
    /// agent finds the ENI with EC2's <c>tag-key</c> filter; value <c>ip=…;cluster=…</c> and, once the
    /// pod's DEL is done on its node, <c>;released=&lt;unix seconds&gt;</c> (<see cref="StickyIpTag"/>).
    /// One tag per pod (not a second released marker) because an ENI carries at most
    /// <see cref="MaxTagsPerEni"/> tags; the cluster is in the value because the IP may sit on an
    /// instance's primary ENI, which Fathom did not create and does not tag with <see cref="Cluster"/>.
    /// </summary>
    public const string StickyIpPrefix = "fathom.io/sticky-ip/";

    /// <summary>EC2's limit on tags per resource ("Tag restrictions").</summary>
    public const int MaxTagsPerEni = 50;

    /// <summary>Sticky shared pods whose IPs one ENI may hold: its tags less Fathom's three (cluster, node, created-at).</summary>
    public const int MaxStickyIpsPerEni = MaxTagsPerEni - 3;

    /// <summary>EC2's limit on a tag key's length, in characters.</summary>
    public const int MaxKeyLength = 128;

    /// <summary>The <see cref="StickyIpPrefix"/> key of a pod; may be longer than <see cref="MaxKeyLength"/> (the caller checks).</summary>
    public static string StickyIpKey(string podNamespace, string podName) => StickyIpPrefix + StickyValue(podNamespace, podName);

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

/// <summary>The value of a sticky shared pod's IP tag (<see cref="EniTags.StickyIpPrefix"/>).</summary>
/// <param name="Ip">The pod's IP (canonical text).</param>
/// <param name="Cluster">The cluster whose agents may take it.</param>
/// <param name="ReleasedAt">When the pod's DEL was done on the node holding it; null while a pod holds it.</param>
public sealed record StickyIpTag(string Ip, string Cluster, DateTimeOffset? ReleasedAt)
{
    /// <summary>The tag's value: <c>ip=…;cluster=…[;released=…]</c>.</summary>
    public override string ToString() =>
        $"ip={Ip};cluster={Cluster}" + (ReleasedAt is { } at ? $";released={EniTags.StickyReleasedValue(at)}" : "");

    /// <summary>Reads a value back; null when it is not one (no ip or cluster).</summary>
    public static StickyIpTag? Parse(string? value)
    {
        if (value is null) return null;
        string? ip = null, cluster = null;
        DateTimeOffset? released = null;
        foreach (var part in value.Split(';'))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0) continue;
            var (name, text) = (part[..eq], part[(eq + 1)..]);
            if (name == "ip") ip = text;
            else if (name == "cluster") cluster = text;
            else if (name == "released" && long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds))
                released = DateTimeOffset.FromUnixTimeSeconds(seconds);
        }
        return string.IsNullOrEmpty(ip) || string.IsNullOrEmpty(cluster) ? null : new StickyIpTag(ip, cluster, released);
    }
}
