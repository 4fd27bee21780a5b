namespace Fathom.Agent.Pools;

/// <summary>
/// The operator's targets for a node's pools (docs/agent.md, "Pools"), the knobs AWS VPC CNI
/// users know by other names (WARM_ENI_TARGET, WARM_IP_TARGET, MINIMUM_IP_TARGET, MAX_ENI).
/// </summary>
public sealed record PoolTargets
{
    /// <summary>Attached ENIs with nothing in use, ready for an underlay pod (or to host IPs): what makes an underlay ADD fast.</summary>
    public int WarmEnis { get; init; } = 1;

    /// <summary>Free secondary IPs ready for shared pods.</summary>
    public int WarmIps { get; init; } = 2;

    /// <summary>Secondary IPs held at least, used or not: a floor for nodes that must start many pods at once.</summary>
    public int MinimumIps { get; init; }

    /// <summary>A cap below the instance type's own limit on attached ENIs (the primary counted), or null for the type's.</summary>
    public int? MaxEnis { get; init; }
}

/// <summary>What an attached ENI is doing.</summary>
public enum EniRole
{
    /// <summary>Nothing of it in use: an underlay pod may take it whole, or it may come to host IPs.</summary>
    Warm,

    /// <summary>An underlay pod holds it (it is in the pod's netns).</summary>
    Exclusive,

    /// <summary>It carries secondary IPs that shared pods use or may use.</summary>
    Hosting,
}

/// <summary>One attached ENI as the planner sees it.</summary>
/// <param name="EniId">eni-….</param>
/// <param name="Primary">The instance's primary ENI: it hosts IPs, is never handed out whole and never released.</param>
/// <param name="Role">What it is doing.</param>
/// <param name="AssignedIps">Secondary IPs the cloud has assigned to it.</param>
/// <param name="UsedIps">Of those, held by pods.</param>
/// <param name="CoolingIps">Of those, freed less than the cooldown ago: neither handed out nor given back yet.</param>
public sealed record EniState(string EniId, bool Primary, EniRole Role, int AssignedIps = 0, int UsedIps = 0, int CoolingIps = 0)
{
    /// <summary>Assigned, not used, not cooling: ready for a shared pod.</summary>
    public int FreeIps => AssignedIps - UsedIps - CoolingIps;

    /// <summary>Nothing of it in use: may go to an underlay pod (after its free IPs are given back) or be released.</summary>
    public bool IsWarm => !Primary && Role != EniRole.Exclusive && UsedIps == 0 && CoolingIps == 0;
}

/// <summary>A node's pools at one instant: the ENIs attached, and what is already on its way.</summary>
/// <param name="MaxEnis">ENIs the instance type can have attached, the primary included.</param>
/// <param name="SecondaryIpsPerEni">Secondary IPs one ENI can carry (IPv4 per ENI − 1).</param>
/// <param name="Enis">The attached ENIs.</param>
/// <param name="AttachingEnis">ENIs being created and attached now.</param>
/// <param name="PendingIps">Secondary IPs being assigned now.</param>
public sealed record PoolSnapshot(int MaxEnis, int SecondaryIpsPerEni, IReadOnlyList<EniState> Enis, int AttachingEnis = 0, int PendingIps = 0);

/// <summary>A step the refiller takes with the cloud.</summary>
public abstract record PoolAction;

/// <summary>Create and attach <paramref name="Count"/> ENIs, in parallel.</summary>
public sealed record AttachEnis(int Count) : PoolAction;

/// <summary>Assign <paramref name="Count"/> secondary IPs to <paramref name="EniId"/> (a warm ENI so becomes a host of IPs).</summary>
public sealed record AssignIps(string EniId, int Count) : PoolAction;

/// <summary>Give <paramref name="Count"/> free secondary IPs of <paramref name="EniId"/> back to the subnet.</summary>
public sealed record UnassignIps(string EniId, int Count) : PoolAction;

/// <summary>Detach and delete <paramref name="EniId"/>, which holds nothing.</summary>
public sealed record ReleaseEni(string EniId) : PoolAction;

/// <summary>
/// The pools' decisions as a pure function of a snapshot and the targets (DESIGN.md §4), so that
/// every rule is tested without a cloud or a clock:
/// <list type="bullet">
/// <item>Grow: attach as many ENIs as the warm-ENI deficit says, all at once (never one per
/// loop), within the type's limit and the operator's cap; assign IPs where the warm-IP or
/// minimum-IP deficit says, packing ENIs that already host IPs, the primary first; an ENI that
/// must start hosting IPs is a warm one, and attaching restores the warm count.</item>
/// <item>Shrink with hysteresis: free IPs beyond the warm target by more than half an ENI's worth
/// are given back (from the least used ENI, so a non-primary one can empty and become warm);
/// warm ENIs beyond the target by more than one are released. Cooling and used IPs are never
/// touched; the minimum-IP floor always holds.</item>
/// </list>
/// </summary>
public static class PoolPlanner
{
    /// <summary>The steps that bring <paramref name="pool"/> to <paramref name="targets"/>; empty when it is there.</summary>
    public static IReadOnlyList<PoolAction> Plan(PoolSnapshot pool, PoolTargets targets)
    {
        // An ENI an underlay pod took while it still carried IPs keeps them for nothing: give them back.
        var actions = pool.Enis.Where(e => e.Role == EniRole.Exclusive && e.AssignedIps > 0)
            .Select(PoolAction (e) => new UnassignIps(e.EniId, e.AssignedIps)).ToList();
        var tidy = actions.Count;
        var capacity = Math.Min(pool.MaxEnis, targets.MaxEnis ?? int.MaxValue) - pool.Enis.Count - pool.AttachingEnis;
        var warm = pool.Enis.Where(e => e.IsWarm).ToList();
        var hosting = pool.Enis.Where(e => e.Primary || e.Role == EniRole.Hosting).ToList();
        var free = hosting.Sum(e => e.FreeIps) + pool.PendingIps;
        var total = hosting.Sum(e => e.AssignedIps) + pool.PendingIps;

        // IPs first: they may take a warm ENI, which the ENI step below then replaces.
        var needIps = Math.Max(Math.Max(targets.WarmIps - free, targets.MinimumIps - total), 0);
        var converted = 0;
        if (needIps > 0)
        {
            // Pack: the primary, then the fullest hosts, so that lightly used ENIs can empty again.
            foreach (var eni in hosting.OrderByDescending(e => e.Primary).ThenByDescending(e => e.UsedIps).ThenBy(e => e.EniId, StringComparer.Ordinal))
            {
                var room = pool.SecondaryIpsPerEni - eni.AssignedIps;
                if (room <= 0 || needIps == 0) continue;
                var count = Math.Min(room, needIps);
                actions.Add(new AssignIps(eni.EniId, count));
                needIps -= count;
            }
            foreach (var eni in warm.Where(e => e.Role == EniRole.Warm).OrderBy(e => e.EniId, StringComparer.Ordinal))
            {
                if (needIps == 0) break;
                var count = Math.Min(pool.SecondaryIpsPerEni - eni.AssignedIps, needIps);
                if (count <= 0) continue;
                actions.Add(new AssignIps(eni.EniId, count));
                needIps -= count;
                converted++;
            }
        }

        var warmLeft = warm.Count - converted;
        var needEnis = targets.WarmEnis - warmLeft - pool.AttachingEnis;
        // An IP deficit no attached ENI could meet also asks for an ENI: it will host them.
        if (needIps > 0) needEnis = Math.Max(needEnis, 0) + (needIps + pool.SecondaryIpsPerEni - 1) / pool.SecondaryIpsPerEni;
        if (needEnis > 0 && capacity > 0) actions.Add(new AttachEnis(Math.Min(needEnis, capacity)));

        if (actions.Count > tidy) return actions;
        actions.AddRange(Shrink(pool, targets, warm, hosting, free, total));
        return actions;
    }

    private static List<PoolAction> Shrink(PoolSnapshot pool, PoolTargets targets, List<EniState> warm, List<EniState> hosting, int free, int total)
    {
        var actions = new List<PoolAction>();
        var hysteresis = Math.Max(1, pool.SecondaryIpsPerEni / 2);
        var excessIps = Math.Min(free - targets.WarmIps, total - targets.MinimumIps);
        var released = new HashSet<string>(StringComparer.Ordinal);
        if (free - targets.WarmIps > hysteresis && excessIps > 0)
        {
            foreach (var eni in hosting.OrderBy(e => e.Primary).ThenBy(e => e.UsedIps).ThenBy(e => e.EniId, StringComparer.Ordinal))
            {
                if (excessIps == 0) break;
                var count = Math.Min(eni.FreeIps, excessIps);
                if (count <= 0) continue;
                actions.Add(new UnassignIps(eni.EniId, count));
                excessIps -= count;
                if (count == eni.AssignedIps && eni.IsWarm) released.Add(eni.EniId); // it empties: counted warm below
            }
        }
        // Warm ENIs carrying no IPs, beyond the target by more than one, go back to the cloud.
        var emptyWarm = warm.Where(e => e.AssignedIps == 0 || released.Contains(e.EniId)).OrderBy(e => e.EniId, StringComparer.Ordinal).ToList();
        var excessEnis = warm.Count - targets.WarmEnis;
        if (excessEnis > 1)
            foreach (var eni in emptyWarm.Take(excessEnis))
                actions.Add(new ReleaseEni(eni.EniId));
        return actions;
    }
}
