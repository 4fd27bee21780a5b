using System.Net;
using Fathom.Datastore;

namespace Fathom.Agent.Subnets;

/// <summary>
/// Pods of the node holding addresses outside the subnet it leases now (issue 10 §1): the node's
/// lease ran out while it could not renew (partitioned, or its agent down longer than the TTL),
/// another node leased that subnet meanwhile, and the node came back with another one. Its old pods
/// keep their addresses — deleting them is the drain's job, not the agent's — but the cluster
/// routes their subnet to its new holder, which may hand the same addresses to its own pods. So
/// while a conflict lasts the node takes no new pod in the mode (ADD is 11 with
/// <see cref="Describe"/>), says so in <c>/readyz</c> and the metrics, and once the stranded pods are
/// deleted it serves again from its new subnet.
/// </summary>
/// <param name="Held">The subnet the node leases now.</param>
/// <param name="Lost">The subnet(s) the stranded pods' addresses are in.</param>
/// <param name="Stranded">The pods (attachments) holding those addresses.</param>
/// <param name="TakenBy">Who leases each lost subnet now (node names), where the peers' leases say.</param>
public sealed record SubnetConflict(IPNetwork Held, IReadOnlyList<IPNetwork> Lost, IReadOnlyList<PodSubnetEntry> Stranded,
    IReadOnlyList<string> TakenBy)
{
    /// <summary>
    /// The conflict of a node leasing <paramref name="own"/> whose pods are <paramref name="pods"/>, as
    /// the <paramref name="peers"/>' leases tell who took what; null when every pod's address is in
    /// <paramref name="own"/>'s subnet. Pods already deleted (releasing: only their veth is left) do not count.
    /// </summary>
    public static SubnetConflict? Find(SubnetLease own, IEnumerable<PodSubnetEntry> pods, IEnumerable<SubnetLease> peers)
    {
        ArgumentNullException.ThrowIfNull(own);
        var stranded = pods.Where(p => !p.Releasing && IPAddress.TryParse(p.Ip, out var ip) && !own.Subnet.Contains(ip)).ToList();
        if (stranded.Count == 0) return null;
        var lost = new List<IPNetwork>();
        var takenBy = new SortedSet<string>(StringComparer.Ordinal);
        var peerList = peers.ToList();
        foreach (var pod in stranded)
        {
            var ip = IPAddress.Parse(pod.Ip);
            if (peerList.FirstOrDefault(p => p.Subnet.Contains(ip)) is { } holder)
            {
                takenBy.Add(holder.Node.NodeName);
                if (!lost.Contains(holder.Subnet)) lost.Add(holder.Subnet);
            }
            else if (!lost.Any(n => n.Contains(ip)))
            {
                // Nobody leases it now (its taker left too): still not the node's, and not routed to it.
                lost.Add(SubnetOf(ip, own.Subnet.PrefixLength));
            }
        }
        return new SubnetConflict(own.Subnet, lost, stranded, [.. takenBy]);
    }

    // Every node subnet of a pool has one length: the node's own tells the lost one's.
    private static IPNetwork SubnetOf(IPAddress ip, int prefixLength)
    {
        var bytes = ip.GetAddressBytes();
        for (var bit = prefixLength; bit < bytes.Length * 8; bit++)
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPNetwork(new IPAddress(bytes), prefixLength);
    }

    /// <summary>What ADD's code 11, <c>/readyz</c> and the log say.</summary>
    public string Describe(string mode)
    {
        var lost = string.Join(", ", Lost);
        var who = TakenBy.Count == 0 ? "which the node no longer leases" : $"now leased by node {string.Join(", node ", TakenBy)}";
        var pods = Stranded.Count == 1 ? "1 pod holds an address" : $"{Stranded.Count} pods hold addresses";
        return $"subnet conflict: {pods} of {lost} ({string.Join(", ", Stranded.Take(3).Select(p => p.Ip))}{(Stranded.Count > 3 ? ", …" : "")}), " +
               $"{who}: this node's {mode} lease expired before a renewal got through and it now holds {Held}; " +
               "no new pod gets an address until those pods are deleted (drain the node)";
    }
}
