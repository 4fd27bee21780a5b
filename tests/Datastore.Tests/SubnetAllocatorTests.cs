using System.Net;

namespace Fathom.Datastore.Tests;

/// <summary>Which subnet a node gets, without I/O.</summary>
public sealed class SubnetAllocatorTests
{
    private static readonly SubnetPool Pool = SubnetPool.Parse("10.244.0.0/16", 24);
    private static readonly SubnetPool Tiny = SubnetPool.Parse("10.0.0.0/28", 30); // 4 subnets

    private static SubnetClaim Live(string subnet, string node) => new(IPNetwork.Parse(subnet), node, Live: true);
    private static SubnetClaim Remembered(string subnet, string node) => new(IPNetwork.Parse(subnet), node, Live: false);

    [Fact]
    public void A_new_node_gets_the_lowest_free_subnet()
    {
        Assert.Equal(Pool[0], SubnetAllocator.Choose(Pool, "a", []));
        Assert.Equal(Pool[1], SubnetAllocator.Choose(Pool, "c", [Live("10.244.0.0/24", "a"), Live("10.244.2.0/24", "b")]));
    }

    [Fact]
    public void A_renewal_keeps_the_subnet()
    {
        Assert.Equal(Pool[7], SubnetAllocator.Choose(Pool, "a", [Live("10.244.7.0/24", "a"), Remembered("10.244.2.0/24", "a")]));
    }

    [Fact]
    public void A_node_back_after_its_lease_expired_gets_its_subnet_again()
    {
        Assert.Equal(Pool[7], SubnetAllocator.Choose(Pool, "a", [Remembered("10.244.7.0/24", "a"), Live("10.244.0.0/24", "b")]));
    }

    [Fact]
    public void A_remembered_subnet_another_node_took_is_not_given_back()
    {
        Assert.Equal(Pool[0], SubnetAllocator.Choose(Pool, "a", [Remembered("10.244.7.0/24", "a"), Live("10.244.7.0/24", "b")]));
    }

    [Fact]
    public void Other_nodes_remembered_subnets_are_taken_only_when_nothing_else_is_free()
    {
        // Subnet 0 is remembered for "a" (its lease expired): "b" gets 1, so that "a" can come back to 0.
        Assert.Equal(Tiny[1], SubnetAllocator.Choose(Tiny, "b", [Remembered("10.0.0.0/30", "a")]));
        // All others live: "e" takes the lowest remembered one.
        Assert.Equal(Tiny[2], SubnetAllocator.Choose(Tiny, "e",
            [Live("10.0.0.0/30", "a"), Live("10.0.0.4/30", "b"), Remembered("10.0.0.8/30", "c"), Remembered("10.0.0.12/30", "d")]));
    }

    [Fact]
    public void Claims_outside_the_pool_are_ignored()
    {
        Assert.Equal(Tiny[0], SubnetAllocator.Choose(Tiny, "a", [Live("10.9.0.0/30", "a"), Live("10.0.0.0/29", "b")]));
    }

    [Fact]
    public void Exhaustion_names_the_cluster_cidr_and_the_count()
    {
        var claims = Enumerable.Range(0, 4).Select(i => new SubnetClaim(Tiny[i], $"n{i}", Live: true)).ToList();
        var e = Assert.Throws<SubnetPoolExhaustedException>(() => SubnetAllocator.Choose(Tiny, "late", claims));
        Assert.Equal("cluster CIDR 10.0.0.0/28 has no free /30 subnet for node 'late': all 4 are leased", e.Message);
        Assert.Same(Tiny, e.Pool);
    }
}
