namespace Fathom.Cloud.Tests;

/// <summary>The value of a sticky shared pod's IP tag (<see cref="EniTags.StickyIpPrefix"/>), written and read back.</summary>
public sealed class StickyIpTagTests
{
    [Fact]
    public void A_value_round_trips_and_one_that_is_not_a_sticky_IP_tag_reads_as_null()
    {
        var released = new StickyIpTag("10.0.0.5", "prod", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        Assert.Equal("ip=10.0.0.5;cluster=prod;released=1700000000", released.ToString());
        Assert.Equal(released, StickyIpTag.Parse(released.ToString()));
        Assert.Equal("ip=10.0.0.5;cluster=prod", (released with { ReleasedAt = null }).ToString());

        Assert.Null(StickyIpTag.Parse(null));
        Assert.Null(StickyIpTag.Parse("10.0.0.5"));
        Assert.Null(StickyIpTag.Parse("ip=10.0.0.5"));
        Assert.Equal(new StickyIpTag("10.0.0.5", "c", null), StickyIpTag.Parse("ip=10.0.0.5;cluster=c;released=soon"));
    }

    [Fact]
    public void The_key_is_named_after_the_pod_and_EC2s_limits_are_stated()
    {
        Assert.Equal("fathom.io/sticky-ip/db/web-0", EniTags.StickyIpKey("db", "web-0"));
        Assert.Equal(47, EniTags.MaxStickyIpsPerEni);
        Assert.Equal(128, EniTags.MaxKeyLength);
    }
}
