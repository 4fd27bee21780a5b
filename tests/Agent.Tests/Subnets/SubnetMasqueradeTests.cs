using Fathom.Agent.Protocol;
using Fathom.Agent.Subnets;
using Fathom.Netlink;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>The nft input of a mode's outgoing NAT, and its check against the kernel (the NAT itself: SubnetNetworkTests).</summary>
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

    /// <summary>
    /// The reconcile's check starts no nft process while the ruleset's generation stays where it was
    /// when the table was last seen whole; a change anywhere makes it look once, and a table deleted
    /// by hand is written again and counted as a repair.
    /// </summary>
    [PrivilegedFact("ip", "nft", "nsenter")]
    public void The_check_runs_nft_only_after_the_ruleset_changed()
    {
        Privileged.Require("ip", "nft", "nsenter");
        using var node = TestNetns.Create("nftgen");
        void Nft(params string[] args) => Shell.Run("ip", ["netns", "exec", node.Name, "nft", .. args]).EnsureSuccess("nft " + string.Join(' ', args));
        var masquerade = new SubnetMasquerade(AllocationMode.HostGw, HostGw, [HostGw], enabled: true, node.Path);

        Assert.False(masquerade.Ensure()); // written
        Assert.Null(masquerade.TakeRefusal());
        Assert.False(masquerade.Ensure()); // looked at once
        var runs = masquerade.NftRuns;
        for (var i = 0; i < 5; i++) Assert.False(masquerade.Ensure());
        Assert.Equal(runs, masquerade.NftRuns);

        Nft("add", "table", "ip", "ftest_other"); // someone else's change: one look, nothing rewritten
        Assert.False(masquerade.Ensure());
        Assert.Equal(runs + 1, masquerade.NftRuns);
        Assert.False(masquerade.Ensure());
        Assert.Equal(runs + 1, masquerade.NftRuns);

        Nft("delete", "table", "ip", masquerade.Table); // ours gone: written again, a repair
        Assert.True(masquerade.Ensure());
        Nft("list", "table", "ip", masquerade.Table);
    }

    [Fact]
    public void Off_the_table_is_removed_and_nothing_else_is_touched()
    {
        var masquerade = new SubnetMasquerade(AllocationMode.Overlay, Overlay, [Overlay], enabled: false);

        Assert.Equal("fathom_overlay", masquerade.Table);
        Assert.Equal("table ip fathom_overlay\ndelete table ip fathom_overlay\n", masquerade.Ruleset);
    }
}
