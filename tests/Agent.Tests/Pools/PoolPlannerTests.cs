using Fathom.Agent.Pools;

namespace Fathom.Agent.Tests.Pools;

/// <summary>The pools' decisions, rule by rule, on an m5.large (3 ENIs, 9 secondary IPs each) unless said otherwise.</summary>
public sealed class PoolPlannerTests
{
    private static readonly EniState Primary = new("eni-0", Primary: true, EniRole.Hosting);

    private static PoolSnapshot Pool(params EniState[] enis) => new(MaxEnis: 3, SecondaryIpsPerEni: 9, enis);

    private static IReadOnlyList<PoolAction> Plan(PoolSnapshot pool, PoolTargets? targets = null) =>
        PoolPlanner.Plan(pool, targets ?? new PoolTargets());

    [Fact]
    public void An_empty_node_attaches_its_warm_ENIs_at_once_and_fills_the_primary_with_IPs()
    {
        var actions = Plan(Pool(Primary), new PoolTargets { WarmEnis = 2, WarmIps = 4 });
        Assert.Equal([new AssignIps("eni-0", 4), new AttachEnis(2)], actions);
    }

    [Fact]
    public void Attaching_stays_within_the_instance_limit_and_the_operators_cap()
    {
        Assert.Equal([new AttachEnis(2)], Plan(Pool(Primary with { AssignedIps = 2 }), new PoolTargets { WarmEnis = 5, WarmIps = 2 }));
        Assert.Equal([new AttachEnis(1)], Plan(Pool(Primary with { AssignedIps = 2 }), new PoolTargets { WarmEnis = 5, WarmIps = 2, MaxEnis = 2 }));
        Assert.Empty(Plan(Pool(Primary with { AssignedIps = 2 }, new("eni-1", false, EniRole.Exclusive), new("eni-2", false, EniRole.Exclusive))));
    }

    [Fact]
    public void ENIs_already_attaching_count_toward_the_target()
    {
        var pool = Pool(Primary with { AssignedIps = 2 }) with { AttachingEnis = 1 };
        Assert.Equal([new AttachEnis(1)], Plan(pool, new PoolTargets { WarmEnis = 2 }));
        Assert.Empty(Plan(pool, new PoolTargets { WarmEnis = 1 }));
    }

    [Fact]
    public void IPs_pack_the_primary_then_the_fullest_host_and_pending_ones_count()
    {
        var pool = Pool(Primary with { AssignedIps = 9, UsedIps = 9 }, new("eni-1", false, EniRole.Hosting, 5, 5), new("eni-2", false, EniRole.Hosting, 3, 1));
        // Three ENIs attached: no room for the warm ENI the default target asks for.
        Assert.Equal([new AssignIps("eni-1", 4)], Plan(pool, new PoolTargets { WarmIps = 6 }));
        Assert.Empty(Plan(pool with { PendingIps = 4 }, new PoolTargets { WarmIps = 6 }));
    }

    [Fact]
    public void An_IP_deficit_converts_a_warm_ENI_and_attaches_one_to_keep_the_warm_count()
    {
        var pool = Pool(Primary with { AssignedIps = 9, UsedIps = 9 }, new("eni-1", false, EniRole.Warm));
        Assert.Equal([new AssignIps("eni-1", 2), new AttachEnis(1)], Plan(pool, new PoolTargets { WarmEnis = 1, WarmIps = 2 }));
    }

    [Fact]
    public void The_minimum_IP_floor_is_held_even_with_enough_free()
    {
        var actions = Plan(Pool(Primary with { AssignedIps = 3 }), new PoolTargets { WarmEnis = 0, WarmIps = 1, MinimumIps = 12 });
        Assert.Equal([new AssignIps("eni-0", 6), new AttachEnis(1)], actions);
    }

    [Fact]
    public void Nothing_to_do_at_the_targets()
    {
        Assert.Empty(Plan(Pool(Primary with { AssignedIps = 2 }, new("eni-1", false, EniRole.Warm))));
    }

    [Fact]
    public void Free_IPs_shrink_only_past_the_hysteresis_from_the_least_used_ENI_never_cooling_or_used_ones()
    {
        var targets = new PoolTargets { WarmEnis = 0, WarmIps = 2 };
        // 2 + 4 free: within the hysteresis (half an ENI, 4): kept.
        Assert.Empty(Plan(Pool(Primary with { AssignedIps = 6 }), targets));
        // 9 + 5 free, the non-primary one least used: it gives back first.
        var pool = Pool(Primary with { AssignedIps = 9, UsedIps = 2 }, new("eni-1", false, EniRole.Hosting, 9, 4, CoolingIps: 2));
        Assert.Equal([new UnassignIps("eni-1", 3), new UnassignIps("eni-0", 5)], Plan(pool, targets));
    }

    [Fact]
    public void Shrinking_keeps_the_minimum_IP_floor()
    {
        var actions = Plan(Pool(Primary with { AssignedIps = 9 }), new PoolTargets { WarmEnis = 0, WarmIps = 0, MinimumIps = 8 });
        Assert.Equal([new UnassignIps("eni-0", 1)], actions);
    }

    [Fact]
    public void Warm_ENIs_beyond_the_target_by_more_than_one_are_released()
    {
        var pool = new PoolSnapshot(8, 29, [Primary with { AssignedIps = 2 }, new("eni-1", false, EniRole.Warm), new("eni-2", false, EniRole.Warm), new("eni-3", false, EniRole.Warm)]);
        Assert.Equal([new ReleaseEni("eni-1"), new ReleaseEni("eni-2")], Plan(pool, new PoolTargets { WarmEnis = 1 }));
        Assert.Empty(Plan(pool, new PoolTargets { WarmEnis = 2 })); // one over: hysteresis
    }

    [Fact]
    public void The_primary_and_ENIs_in_use_are_never_released()
    {
        var pool = Pool(Primary with { AssignedIps = 2 }, new("eni-1", false, EniRole.Exclusive), new("eni-2", false, EniRole.Hosting, 2, 1));
        Assert.DoesNotContain(Plan(pool, new PoolTargets { WarmEnis = 0, WarmIps = 0 }), a => a is ReleaseEni);
    }

    [Fact]
    public void An_ENI_taken_whole_while_it_carried_IPs_gives_them_back()
    {
        var pool = Pool(Primary with { AssignedIps = 2 }, new("eni-1", false, EniRole.Exclusive, AssignedIps: 3), new("eni-2", false, EniRole.Warm));
        Assert.Equal([new UnassignIps("eni-1", 3)], Plan(pool));
    }
}
