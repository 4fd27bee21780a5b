using System.Net.Sockets;
using System.Text.Json;

namespace Fathom.Netlink.Tests.Rules;

/// <summary>Policy rules against the real kernel, cross-checked both ways with <c>ip -j rule</c>.</summary>
public sealed class RuleTests
{
    [PrivilegedFact("ip")]
    public void Rules_added_by_the_library_are_what_ip_shows()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();

        ns.Netlink.AddRule(new Rule { Family = AddressFamily.InterNetwork, Priority = 1000, From = IpPrefix.Parse("10.0.1.5/32"), Table = 101 });
        ns.Netlink.AddRule(new Rule
        {
            Family = AddressFamily.InterNetwork, Priority = 1001, To = IpPrefix.Parse("10.3.0.0/16"),
            IifName = "eth9", OifName = "eth8", Table = 1000,
        });
        ns.Netlink.AddRule(new Rule { Family = AddressFamily.InterNetwork, Priority = 1002, Mark = 0x10, Mask = 0xff, Table = 102 });
        ns.Netlink.AddRule(new Rule { Family = AddressFamily.InterNetworkV6, Priority = 1003, From = IpPrefix.Parse("fd00::/64"), Table = 103 });

        var rules = ns.IpJson("rule", "show").EnumerateArray().ToDictionary(r => r.GetProperty("priority").GetInt32());
        Assert.Equal("10.0.1.5", rules[1000].GetProperty("src").GetString());
        Assert.Equal("101", rules[1000].GetProperty("table").GetString());
        Assert.Equal("10.3.0.0", rules[1001].GetProperty("dst").GetString());
        Assert.Equal(16, rules[1001].GetProperty("dstlen").GetInt32());
        Assert.Equal("eth9", rules[1001].GetProperty("iif").GetString());
        Assert.Equal("eth8", rules[1001].GetProperty("oif").GetString());
        Assert.Equal("1000", rules[1001].GetProperty("table").GetString());
        Assert.Equal("0x10", rules[1002].GetProperty("fwmark").GetString());
        Assert.Equal("0xff", rules[1002].GetProperty("fwmask").GetString());
        var v6 = ns.IpJson("-6", "rule", "show").EnumerateArray().Single(r => r.GetProperty("priority").GetInt32() == 1003);
        Assert.Equal("fd00::", v6.GetProperty("src").GetString());
        Assert.Equal(64, v6.GetProperty("srclen").GetInt32());
    }

    [PrivilegedFact("ip")]
    public void Rules_added_by_ip_are_read_back_and_deleted()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        ns.Ip("rule", "add", "from", "10.0.0.0/24", "to", "10.9.0.0/16", "iif", "lo", "table", "100", "pref", "500");
        ns.Ip("rule", "add", "oif", "eth3", "table", "4000", "pref", "501");

        var rules = ns.Netlink.ListRules(AddressFamily.InterNetwork);

        Assert.Equal(ns.IpJson("rule", "show").GetArrayLength(), rules.Count);
        Assert.Equal([0, 500, 501, 32766, 32767], rules.Select(r => r.Priority ?? -1));
        var r500 = rules[1];
        Assert.Equal(IpPrefix.Parse("10.0.0.0/24"), r500.From);
        Assert.Equal(IpPrefix.Parse("10.9.0.0/16"), r500.To);
        Assert.Equal("lo", r500.IifName);
        Assert.Equal(100, r500.Table);
        Assert.Equal(RuleAction.ToTable, r500.Action);
        Assert.Equal("eth3", rules[2].OifName);
        Assert.Equal(4000, rules[2].Table);
        Assert.Equal(RouteTables.Local, rules[0].Table);

        ns.Netlink.DeleteRule(r500);
        ns.Netlink.DeleteRule(new Rule { Family = AddressFamily.InterNetwork, Priority = 501, Table = 4000 });
        Assert.Equal([0, 32766, 32767], ns.IpJson("rule", "show").EnumerateArray().Select(r => r.GetProperty("priority").GetInt32()));

        var missing = Assert.Throws<NetlinkException>(() => ns.Netlink.DeleteRule(r500));
        Assert.Equal(Errno.ENOENT, missing.Error);
        Assert.True(missing.IsNotFound);
    }
}
