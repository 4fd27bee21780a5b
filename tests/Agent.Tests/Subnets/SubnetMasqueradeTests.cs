using Fathom.Agent.Protocol;
using Fathom.Agent.Subnets;
using Fathom.Netlink;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>The nft input of a mode's outgoing NAT (the kernel side: SubnetNetworkTests).</summary>
public sealed class SubnetMasqueradeTests
{
    private static readonly IpPrefix HostGw = IpPrefix.Parse("10.244.0.0/16"), Overlay = IpPrefix.Parse("10.245.0.0/16");

    [Fact]
    public void On_the_modes_table_is_replaced_whole_with_one_rule_sparing_every_pod_cidr_and_the_nodes_pods()
    {
        var ruleset = new SubnetMasquerade(AllocationMode.HostGw, HostGw, [HostGw, Overlay], enabled: true).Ruleset;

        Assert.StartsWith("table ip fathom_host_gw\ndelete table ip fathom_host_gw\ntable ip fathom_host_gw {", ruleset, StringComparison.Ordinal);
        Assert.Contains("type nat hook postrouting priority srcnat; policy accept;", ruleset, StringComparison.Ordinal);
        Assert.Contains("ip saddr 10.244.0.0/16 ip daddr != { 10.244.0.0/16, 10.245.0.0/16 } oifname != \"fth*\" masquerade", ruleset, StringComparison.Ordinal);
    }

    [Fact]
    public void Off_the_table_is_removed_and_nothing_else_is_touched()
    {
        var masquerade = new SubnetMasquerade(AllocationMode.Overlay, Overlay, [Overlay], enabled: false);

        Assert.Equal("fathom_overlay", masquerade.Table);
        Assert.Equal("table ip fathom_overlay\ndelete table ip fathom_overlay\n", masquerade.Ruleset);
    }
}
