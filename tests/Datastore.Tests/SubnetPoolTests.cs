using System.Net;

namespace Fathom.Datastore.Tests;

public sealed class SubnetPoolTests
{
    [Fact]
    public void Cuts_the_cluster_cidr_into_numbered_subnets()
    {
        var pool = SubnetPool.Parse("10.244.0.0/16", 24);
        Assert.Equal(256, pool.Count);
        Assert.Equal(IPNetwork.Parse("10.244.0.0/24"), pool[0]);
        Assert.Equal(IPNetwork.Parse("10.244.3.0/24"), pool[3]);
        Assert.Equal(IPNetwork.Parse("10.244.255.0/24"), pool[255]);
        Assert.Equal(3, pool.IndexOf(IPNetwork.Parse("10.244.3.0/24")));
        Assert.Equal(-1, pool.IndexOf(IPNetwork.Parse("10.245.3.0/24")));
        Assert.Equal(-1, pool.IndexOf(IPNetwork.Parse("10.244.3.0/25")));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool[256]);
    }

    [Fact]
    public void Works_for_ipv6_too()
    {
        var pool = SubnetPool.Parse("fd00:10:244::/56", 64);
        Assert.Equal(256, pool.Count);
        Assert.Equal(IPNetwork.Parse("fd00:10:244:5::/64"), pool[5]);
        Assert.Equal(5, pool.IndexOf(pool[5]));
    }

    [Theory]
    [InlineData("10.244.0.0/16", 16)]   // not longer than the cluster prefix
    [InlineData("10.244.0.0/16", 33)]   // longer than an address
    [InlineData("10.0.0.0/8", 30)]      // 2^22 subnets
    public void Rejects_lengths_that_do_not_fit(string cidr, int length) =>
        Assert.Throws<ArgumentException>(() => SubnetPool.Parse(cidr, length));

    [Theory]
    [InlineData("10.244.1.0/16")] // host bits set
    [InlineData("10.244.0.0")]
    [InlineData("banana")]
    public void Rejects_what_is_not_a_cidr(string cidr)
    {
        var e = Assert.Throws<ArgumentException>(() => SubnetPool.Parse(cidr, 24));
        Assert.Contains(cidr, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_have_no_slash_and_parse_back()
    {
        var subnet = IPNetwork.Parse("10.244.3.0/24");
        Assert.Equal("10.244.3.0-24", SubnetPool.KeyOf(subnet));
        Assert.Equal(subnet, SubnetPool.FromKey("10.244.3.0-24"));
        Assert.Equal(IPNetwork.Parse("fd00::/64"), SubnetPool.FromKey("fd00::-64"));
        Assert.Null(SubnetPool.FromKey("10.244.3.1-24"));
        Assert.Null(SubnetPool.FromKey("nonsense"));
    }
}
