using System.Net.NetworkInformation;
using Fathom.Netlink;

namespace Fathom.Cloud.Host.Tests;

/// <summary>Which links are host NICs: by name, MAC or glob, and never a bridge, a VXLAN device or loopback.</summary>
public sealed class NicSelectorTests
{
    private static Link L(string name, string mac = "02:00:00:00:00:01", string? kind = null) =>
        new() { Index = 1, Name = name, Mac = PhysicalAddress.Parse(mac.Replace(':', '-').ToUpperInvariant()), Kind = kind };

    [Fact]
    public void A_pattern_matches_names_and_only_NIC_like_links()
    {
        var selector = new NicSelector(new HostNicConfig { Pattern = "ens1f0v*", DefaultAddress = "dhcp" });
        Assert.True(selector.Matches(L("ens1f0v3")));
        Assert.True(selector.Matches(L("ens1f0v12", kind: "veth")));
        Assert.False(selector.Matches(L("ens1f1v3")));
        Assert.False(selector.Matches(L("ens1f0v3", kind: "bridge")));
        Assert.False(selector.Matches(L("ens1f0v3", kind: "vxlan")));
        Assert.False(selector.Matches(L("ens1f0v3", mac: "00:00:00:00:00:00")));
        Assert.Null(selector.Count);
    }

    [Fact]
    public void Names_and_macs_select_exactly_those()
    {
        var byName = new NicSelector(new HostNicConfig { Names = ["eth1", "eth2"], DefaultAddress = "dhcp" });
        Assert.True(byName.Matches(L("eth2")));
        Assert.False(byName.Matches(L("eth3")));
        Assert.Equal(2, byName.Count);
        var byMac = new NicSelector(new HostNicConfig { Macs = ["02:AA:00:00:00:01"], DefaultAddress = "dhcp" });
        Assert.True(byMac.Matches(L("whatever", "02:aa:00:00:00:01")));
        Assert.False(byMac.Matches(L("eth1", "02:aa:00:00:00:02")));
        Assert.False(byMac.Matches(L("lo", "02:aa:00:00:00:01")));
    }

    [Fact]
    public void Ids_and_macs_have_one_form() =>
        Assert.Equal(("nic-02aa00000001", "02:aa:00:00:00:01"),
            (HostNicProvider.EniIdOf(NicSelector.ParseMac("02:AA:00:00:00:01")), NicSelector.Format(NicSelector.ParseMac("02-aa-00-00-00-01"))));
}
