using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Fathom.Netlink.Tests.Routes;

/// <summary>Routes against the real kernel, cross-checked both ways with <c>ip -j route</c>.</summary>
public sealed class RouteTests
{
    /// <summary>A namespace with va (10.0.0.1/24, fd00::1/64) up, its peer vb up too so va has carrier.</summary>
    private static (KernelNetns Ns, int Index) Wired()
    {
        var ns = KernelNetns.Create();
        try
        {
            var link = ns.Netlink.CreateVeth("va", "vb");
            ns.Netlink.AddAddress(link.Index, IpPrefix.Parse("10.0.0.1/24"));
            ns.Netlink.AddAddress(link.Index, IpPrefix.Parse("fd00::1/64"), new AddressOptions { NoDad = true });
            ns.Netlink.SetLinkUp(link.Index);
            ns.Netlink.SetLinkUp(link.PeerIndex!.Value);
            return (ns, link.Index);
        }
        catch
        {
            ns.Dispose();
            throw;
        }
    }

    [PrivilegedFact("ip")]
    public void Routes_added_by_the_library_are_what_ip_shows()
    {
        Privileged.Require("ip");
        var (ns, index) = Wired();
        using var _ = ns;

        ns.Netlink.AddRoute(new Route
        {
            Destination = IpPrefix.Parse("10.1.0.0/16"), Gateway = IPAddress.Parse("10.0.0.2"), OutputIndex = index,
            Table = 100, Priority = 10, Source = IPAddress.Parse("10.0.0.1"), Mtu = 1400, AdvMss = 1360,
        });
        ns.Netlink.AddRoute(new Route { Destination = IpPrefix.Parse("10.2.0.0/16"), OutputIndex = index, Table = 1000 });
        ns.Netlink.AddRoute(new Route { Gateway = IPAddress.Parse("10.0.0.254"), OutputIndex = index });
        ns.Netlink.AddRoute(new Route { Destination = IpPrefix.Parse("fd01::/64"), Gateway = IPAddress.Parse("fd00::2"), OutputIndex = index });
        // onlink: a gateway outside every prefix of the link, as the overlay and underlay modes use.
        ns.Netlink.AddRoute(new Route { Destination = IpPrefix.Parse("10.3.0.0/16"), Gateway = IPAddress.Parse("192.168.7.1"), OutputIndex = index, OnLink = true });

        var r100 = ns.IpJson("route", "show", "table", "100").EnumerateArray().Single();
        Assert.Equal("10.1.0.0/16", r100.GetProperty("dst").GetString());
        Assert.Equal("10.0.0.2", r100.GetProperty("gateway").GetString());
        Assert.Equal("va", r100.GetProperty("dev").GetString());
        Assert.Equal(10, r100.GetProperty("metric").GetInt32());
        Assert.Equal("10.0.0.1", r100.GetProperty("prefsrc").GetString());
        var metrics = r100.GetProperty("metrics").EnumerateArray().ToList();
        Assert.Contains(metrics, m => m.TryGetProperty("mtu", out var v) && v.GetInt32() == 1400);
        Assert.Contains(metrics, m => m.TryGetProperty("advmss", out var v) && v.GetInt32() == 1360);

        var r1000 = ns.IpJson("route", "show", "table", "1000").EnumerateArray().Single();
        Assert.Equal("10.2.0.0/16", r1000.GetProperty("dst").GetString());
        Assert.Equal("link", r1000.GetProperty("scope").GetString());

        var main = ns.IpJson("route", "show").EnumerateArray().ToList();
        var dflt = main.Single(r => r.GetProperty("dst").GetString() == "default");
        Assert.Equal("10.0.0.254", dflt.GetProperty("gateway").GetString());
        var onlink = main.Single(r => r.GetProperty("dst").GetString() == "10.3.0.0/16");
        Assert.Contains("onlink", onlink.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));

        var v6 = ns.IpJson("-6", "route", "show").EnumerateArray().Single(r => r.GetProperty("dst").GetString() == "fd01::/64");
        Assert.Equal("fd00::2", v6.GetProperty("gateway").GetString());
    }

    [PrivilegedFact("ip")]
    public void Routes_added_by_ip_are_read_back()
    {
        Privileged.Require("ip");
        var (ns, index) = Wired();
        using var _ = ns;
        ns.Ip("route", "add", "10.5.0.0/16", "via", "10.0.0.9", "dev", "va", "metric", "7", "src", "10.0.0.1", "mtu", "1300", "advmss", "1200", "proto", "static");
        ns.Ip("route", "add", "10.6.0.0/24", "dev", "va", "table", "300", "scope", "link");
        ns.Ip("route", "add", "blackhole", "10.7.0.0/16");
        ns.Ip("-6", "route", "add", "fd02::/64", "via", "fd00::9", "dev", "va");

        var main = ns.Netlink.ListRoutes(AddressFamily.InterNetwork);
        var r = main.Single(x => x.Destination == IpPrefix.Parse("10.5.0.0/16"));
        Assert.Equal(IPAddress.Parse("10.0.0.9"), r.Gateway);
        Assert.Equal(index, r.OutputIndex);
        Assert.Equal(7, r.Priority);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), r.Source);
        Assert.Equal(1300, r.Mtu);
        Assert.Equal(1200, r.AdvMss);
        Assert.Equal(RouteProtocol.Static, r.Protocol);
        Assert.Equal(RouteTables.Main, r.Table);
        Assert.Equal(RouteType.Blackhole, main.Single(x => x.Destination == IpPrefix.Parse("10.7.0.0/16")).Type);
        // The kernel's own prefix route for 10.0.0.0/24.
        Assert.Contains(main, x => x.Destination == IpPrefix.Parse("10.0.0.0/24") && x.Protocol == RouteProtocol.Kernel && x.Scope == RouteScope.Link);
        Assert.Equal(ns.IpJson("route", "show").GetArrayLength(), main.Count);

        var t300 = Assert.Single(ns.Netlink.ListRoutes(AddressFamily.InterNetwork, 300));
        Assert.Equal(300, t300.Table);
        Assert.Equal(RouteScope.Link, t300.Scope);

        var all = ns.Netlink.ListRoutes(AddressFamily.InterNetwork, RouteTables.Unspec);
        Assert.Contains(all, x => x.Table == 300);
        Assert.Contains(all, x => x.Table == RouteTables.Local);

        var v6 = ns.Netlink.ListRoutes(AddressFamily.InterNetworkV6).Single(x => x.Destination == IpPrefix.Parse("fd02::/64"));
        Assert.Equal(IPAddress.Parse("fd00::9"), v6.Gateway);
    }

    [PrivilegedFact("ip")]
    public void Replace_and_delete_change_what_ip_shows()
    {
        Privileged.Require("ip");
        var (ns, index) = Wired();
        using var _ = ns;
        var route = new Route { Destination = IpPrefix.Parse("10.1.0.0/16"), Gateway = IPAddress.Parse("10.0.0.2"), OutputIndex = index };
        ns.Netlink.AddRoute(route);

        var exists = Assert.Throws<NetlinkException>(() => ns.Netlink.AddRoute(route));
        Assert.Equal(Errno.EEXIST, exists.Error);

        ns.Netlink.ReplaceRoute(route with { Gateway = IPAddress.Parse("10.0.0.3") });
        var shown = ns.IpJson("route", "show", "10.1.0.0/16").EnumerateArray().Single();
        Assert.Equal("10.0.0.3", shown.GetProperty("gateway").GetString());

        // Delete with only the destination: the rest are wildcards, as with `ip route del 10.1.0.0/16`.
        ns.Netlink.DeleteRoute(new Route { Destination = IpPrefix.Parse("10.1.0.0/16") });
        Assert.Empty(ns.IpJson("route", "show", "10.1.0.0/16").EnumerateArray());

        var missing = Assert.Throws<NetlinkException>(() => ns.Netlink.DeleteRoute(route));
        Assert.Equal(Errno.ESRCH, missing.Error);
        Assert.True(missing.IsNotFound);

        // A route read back from a dump deletes itself.
        ns.Ip("route", "add", "10.8.0.0/16", "via", "10.0.0.8", "table", "55");
        var listed = Assert.Single(ns.Netlink.ListRoutes(AddressFamily.InterNetwork, 55));
        ns.Netlink.DeleteRoute(listed);
        Assert.Empty(ns.IpJson("route", "show", "table", "55").EnumerateArray());
    }

    [PrivilegedFact("ip")]
    public void A_route_via_an_unreachable_gateway_fails_with_the_kernels_reason()
    {
        Privileged.Require("ip");
        var (ns, index) = Wired();
        using var _ = ns;

        var e = Assert.Throws<NetlinkException>(() => ns.Netlink.AddRoute(new Route
        {
            Destination = IpPrefix.Parse("10.9.0.0/16"), Gateway = IPAddress.Parse("192.168.99.1"), OutputIndex = index,
        }));

        // net/ipv4/fib_semantics.c fib_check_nh_v4_gw: NL_SET_ERR_MSG(extack, "Nexthop has invalid gateway").
        Assert.Equal("Nexthop has invalid gateway", e.KernelMessage);
        Assert.Contains("Nexthop has invalid gateway", e.Message);
        Assert.Contains("10.9.0.0/16", e.Message);
    }
}
