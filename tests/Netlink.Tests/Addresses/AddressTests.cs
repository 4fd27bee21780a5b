using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Fathom.Netlink.Tests.Addresses;

/// <summary>Addresses against the real kernel, cross-checked both ways with <c>ip -j addr</c>.</summary>
public sealed class AddressTests
{
    [PrivilegedFact("ip")]
    public void Addresses_added_by_the_library_are_what_ip_shows()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");

        ns.Netlink.AddAddress(link.Index, IpPrefix.Parse("10.0.0.5/24"), new AddressOptions
        {
            Broadcast = IPAddress.Parse("10.0.0.255"), Label = "va:pod", Scope = RouteScope.Link,
        });
        ns.Netlink.AddAddress(link.Index, IpPrefix.Parse("fd00::5/64"), new AddressOptions { NoDad = true, NoPrefixRoute = true });

        var infos = ns.IpJson("addr", "show", "dev", "va")[0].GetProperty("addr_info").EnumerateArray().ToList();
        var v4 = infos.Single(a => a.GetProperty("family").GetString() == "inet");
        Assert.Equal("10.0.0.5", v4.GetProperty("local").GetString());
        Assert.Equal(24, v4.GetProperty("prefixlen").GetInt32());
        Assert.Equal("10.0.0.255", v4.GetProperty("broadcast").GetString());
        Assert.Equal("va:pod", v4.GetProperty("label").GetString());
        Assert.Equal("link", v4.GetProperty("scope").GetString());
        var v6 = infos.Single(a => a.GetProperty("family").GetString() == "inet6" && a.GetProperty("scope").GetString() == "global");
        Assert.Equal("fd00::5", v6.GetProperty("local").GetString());
        Assert.True(v6.GetProperty("nodad").GetBoolean());
        Assert.True(v6.GetProperty("noprefixroute").GetBoolean());
        // noprefixroute: no fd00::/64 route was made for it.
        Assert.DoesNotContain(ns.IpJson("-6", "route", "show").EnumerateArray(), r => r.GetProperty("dst").GetString() == "fd00::/64");
    }

    [PrivilegedFact("ip")]
    public void Addresses_added_by_ip_are_read_back()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        ns.Ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
        ns.Ip("addr", "add", "10.1.0.7/16", "brd", "+", "dev", "va", "label", "va:x");
        ns.Ip("addr", "add", "10.2.0.1", "peer", "10.2.0.2/32", "dev", "va");
        ns.Ip("addr", "add", "fd01::7/80", "dev", "va", "nodad");
        int index = ns.IndexOf("va");

        var all = ns.Netlink.ListAddresses(index: index);
        var v4 = ns.Netlink.ListAddresses(AddressFamily.InterNetwork, index);

        var first = v4.Single(a => a.Prefix.Address.Equals(IPAddress.Parse("10.1.0.7")));
        Assert.Equal(16, first.Prefix.PrefixLength);
        Assert.Equal(IPAddress.Parse("10.1.255.255"), first.Broadcast);
        Assert.Equal("va:x", first.Label);
        Assert.Equal(RouteScope.Universe, first.Scope);
        Assert.True(first.Flags.HasFlag(AddressFlags.Permanent));
        var p2p = v4.Single(a => a.Prefix.Address.Equals(IPAddress.Parse("10.2.0.1")));
        Assert.Equal(IPAddress.Parse("10.2.0.2"), p2p.Peer);
        var v6 = all.Single(a => a.Prefix == IpPrefix.Parse("fd01::7/80"));
        Assert.True(v6.Flags.HasFlag(AddressFlags.NoDad));
        Assert.Equal(AddressFamily.InterNetworkV6, v6.Family);
        Assert.All(all, a => Assert.Equal(index, a.Index));

        var ipCount = ns.IpJson("addr", "show", "dev", "va")[0].GetProperty("addr_info").GetArrayLength();
        Assert.Equal(ipCount, all.Count);
    }

    [PrivilegedFact("ip")]
    public void Delete_removes_and_errors_say_exists_or_not_found()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");
        var prefix = IpPrefix.Parse("10.0.0.5/24");
        ns.Netlink.AddAddress(link.Index, prefix);

        var exists = Assert.Throws<NetlinkException>(() => ns.Netlink.AddAddress(link.Index, prefix));
        Assert.Equal(Errno.EEXIST, exists.Error);

        ns.Netlink.DeleteAddress(link.Index, prefix);
        Assert.Empty(ns.Netlink.ListAddresses(AddressFamily.InterNetwork, link.Index));
        Assert.DoesNotContain(ns.IpJson("addr", "show", "dev", "va")[0].GetProperty("addr_info").EnumerateArray(),
            a => a.GetProperty("family").GetString() == "inet");

        var missing = Assert.Throws<NetlinkException>(() => ns.Netlink.DeleteAddress(link.Index, prefix));
        Assert.Equal(Errno.EADDRNOTAVAIL, missing.Error);
        Assert.True(missing.IsNotFound);
    }

    [PrivilegedFact("ip")]
    public void A_dump_of_hundreds_of_addresses_spans_many_datagrams()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");
        const int Count = 1000;
        for (int i = 0; i < Count; i++)
            ns.Netlink.AddAddress(link.Index, new IpPrefix(new IPAddress([10, 50, (byte)(i / 250), (byte)(i % 250 + 1)]), 16));

        var addresses = ns.Netlink.ListAddresses(AddressFamily.InterNetwork);

        // 1000 × 76 bytes is three datagrams of at most 32 KiB (300 fitted in one: `strace -e
        // recvmsg ip -4 addr show` shows the sizes), so the loop must read on to NLMSG_DONE.
        Assert.Equal(Count + 1, addresses.Count); // plus 127.0.0.1 on lo
        var ip = ns.IpJson("-4", "addr", "show").EnumerateArray()
            .SelectMany(l => l.GetProperty("addr_info").EnumerateArray()).Select(a => a.GetProperty("local").GetString()).Order();
        Assert.Equal(ip, addresses.Select(a => a.Prefix.Address.ToString()).Order());
    }
}
