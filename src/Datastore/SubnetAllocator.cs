using System.Net;

namespace Fathom.Datastore;

/// <summary>
/// A subnet somebody has a claim on, as a store read it: a live lease, or a remembered one (a
/// lease expired but not yet taken by another node; in etcd the node's last subnet).
/// </summary>
/// <param name="Subnet">The subnet.</param>
/// <param name="NodeName">Who holds or held it.</param>
/// <param name="Live">True for a lease within its TTL.</param>
internal readonly record struct SubnetClaim(IPNetwork Subnet, string NodeName, bool Live);

/// <summary>
/// Which subnet a node gets, decided without I/O from the claims a store read under its lock or
/// before its transaction (the transaction then proves that nothing changed).
/// </summary>
internal static class SubnetAllocator
{
    /// <summary>
    /// In order of preference: the subnet the node holds or held last, if no other node holds it live;
    /// the lowest subnet nobody has a claim on; the lowest subnet remembered for another node, whose
    /// lease is over (so a node back from a restart keeps its subnet as long as the pool allows).
    /// </summary>
    /// <exception cref="SubnetPoolExhaustedException">Every subnet is leased live.</exception>
    public static IPNetwork Choose(SubnetPool pool, string nodeName, IEnumerable<SubnetClaim> claims)
    {
        var live = new HashSet<int>();
        var remembered = new SortedSet<int>();
        var own = new List<(int Index, bool Live)>();
        foreach (var claim in claims)
        {
            var index = pool.IndexOf(claim.Subnet);
            if (index < 0) continue; // left from another configuration: not ours to reason about
            if (claim.NodeName == nodeName) own.Add((index, claim.Live));
            else if (claim.Live) live.Add(index);
            else remembered.Add(index);
        }

        // The node's own claims: a live one first (a renewal), else the last one it had.
        foreach (var (index, isLive) in own.OrderByDescending(o => o.Live))
            if (!live.Contains(index)) return pool[index];

        for (var i = 0; i < pool.Count; i++)
            if (!live.Contains(i) && !remembered.Contains(i)) return pool[i];

        foreach (var index in remembered)
            if (!live.Contains(index)) return pool[index];

        throw new SubnetPoolExhaustedException(pool, nodeName);
    }
}
