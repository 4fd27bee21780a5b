using System.Net;
using System.Net.NetworkInformation;
using System.Text.Json;

namespace Fathom.Netlink.Tests.Links;

/// <summary>
/// Links against the real kernel, each test in fresh namespaces, cross-checked both ways with
/// <c>ip -j -d link</c>: what the library writes iproute2 reads back, what iproute2 writes the
/// library reads.
/// </summary>
public sealed class LinkTests
{
    private static readonly PhysicalAddress MacA = PhysicalAddress.Parse("02-00-00-00-0a-01");
    private static readonly PhysicalAddress MacB = PhysicalAddress.Parse("02-00-00-00-0a-02");

    [PrivilegedFact("ip")]
    public void Veth_created_by_the_library_is_what_ip_shows()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();

        var link = ns.Netlink.CreateVeth("va", "vb", options: new VethOptions { Mtu = 1400, Mac = MacA, PeerMac = MacB });

        var a = ns.IpLink("va");
        var b = ns.IpLink("vb");
        Assert.Equal(link.Index, a.GetProperty("ifindex").GetInt32());
        Assert.Equal("veth", a.GetProperty("linkinfo").GetProperty("info_kind").GetString());
        Assert.Equal(1400, a.GetProperty("mtu").GetInt32());
        Assert.Equal(1400, b.GetProperty("mtu").GetInt32());
        Assert.Equal("02:00:00:00:0a:01", a.GetProperty("address").GetString());
        Assert.Equal("02:00:00:00:0a:02", b.GetProperty("address").GetString());
        Assert.Equal(b.GetProperty("ifindex").GetInt32(), link.PeerIndex);
        Assert.Equal("veth", link.Kind);
        Assert.Equal(MacA, link.Mac);
        Assert.Equal(1400, link.Mtu);
        Assert.False(link.IsUp);
    }

    [PrivilegedFact("ip")]
    public void TryGetLink_answers_a_missing_link_with_false_and_a_present_one_with_it()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        var lo = host.Netlink.GetLink("lo");

        Assert.True(host.Netlink.TryGetLink(lo.Index, out var byIndex));
        Assert.Equal("lo", byIndex.Name);
        Assert.True(host.Netlink.TryGetLink("lo", out var byName));
        Assert.Equal(lo.Index, byName.Index);
        Assert.False(host.Netlink.TryGetLink(999_999, out var none));
        Assert.Null(none);
        Assert.False(host.Netlink.TryGetLink("nosuch0", out _));
        // The handle is still in step after the kernel's ENODEV: the next request gets its own answer.
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => host.Netlink.GetLink("nosuch0")).Error);
        Assert.Equal(lo.Index, host.Netlink.GetLink("lo").Index);
    }

    [PrivilegedFact("ip")]
    public void Veth_peer_is_created_directly_in_another_namespace()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        using var pod = KernelNetns.Create();

        var link = host.Netlink.CreateVeth("host0", "eth0", pod.Handle, new VethOptions { PeerMac = MacB });

        Assert.False(host.Netlink.TryGetLink("eth0", out _));
        var peer = pod.Netlink.GetLink("eth0");
        Assert.Equal(MacB, peer.Mac);
        Assert.Equal(peer.Index, link.PeerIndex);
        Assert.NotNull(link.PeerNetnsId);
        Assert.Equal(pod.IndexOf("eth0"), peer.Index);
        Assert.Equal(host.IpLink("host0").GetProperty("link_netnsid").GetInt32(), link.PeerNetnsId);
        // What CreateVeth returns (the kernel's echo of the request) is what a GET reads back.
        Assert.Equal(host.Netlink.GetLink("host0") with { OperState = link.OperState }, link);
    }

    [PrivilegedFact("ip")]
    public void Links_made_by_ip_are_read_back_with_kind_master_alias_and_details()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        ns.Ip("link", "add", "br0", "type", "bridge");
        ns.Ip("link", "add", "va", "type", "veth", "peer", "name", "vb");
        ns.Ip("link", "set", "va", "master", "br0");
        ns.Ip("link", "set", "va", "alias", "pod uplink");
        ns.Ip("link", "set", "va", "up");
        ns.Ip("link", "set", "vb", "up");
        ns.Ip("link", "add", "vx0", "type", "vxlan", "id", "4242", "local", "10.9.0.1", "dev", "br0", "dstport", "4789", "nolearning");
        ns.Ip("link", "add", "mv0", "link", "vb", "type", "macvlan", "mode", "private");

        // Operstate follows carrier through the kernel's linkwatch work, up to a second after
        // `ip link set up` (net/core/link_watch.c): read the library between two reads by ip
        // that agree, so both saw the same settled state.
        Dictionary<string, Link> links;
        Dictionary<string, JsonElement> ipLinks;
        var attempts = 0;
        while (true)
        {
            var before = OperStates(ns);
            links = ns.Netlink.ListLinks().ToDictionary(l => l.Name);
            ipLinks = ns.IpJson("link", "show").EnumerateArray().ToDictionary(l => l.GetProperty("ifname").GetString()!);
            if (before == OperStates(ipLinks.Values) || ++attempts == 30) break;
            Thread.Sleep(100);
        }
        Assert.Equal(ipLinks.Keys.Order(), links.Keys.Order());
        foreach (var (name, ip) in ipLinks)
        {
            var link = links[name];
            Assert.Equal(ip.GetProperty("ifindex").GetInt32(), link.Index);
            Assert.Equal(ip.GetProperty("mtu").GetInt32(), link.Mtu);
            Assert.Equal(ip.GetProperty("address").GetString(), FormatMac(link.Mac));
            Assert.Equal(ip.GetProperty("operstate").GetString(), link.OperState.ToString().ToUpperInvariant());
            string? kind = ip.TryGetProperty("linkinfo", out var info) && info.TryGetProperty("info_kind", out var k) ? k.GetString() : null;
            Assert.Equal(kind, link.Kind);
        }

        var va = links["va"];
        Assert.Equal(links["br0"].Index, va.MasterIndex);
        Assert.Equal("bridge", va.SlaveKind);
        Assert.Equal("pod uplink", va.Alias);
        Assert.True(va.IsUp);
        Assert.Equal(links["vb"].Index, va.PeerIndex);
        Assert.Null(va.PeerNetnsId);

        var vx = links["vx0"].Vxlan!;
        Assert.Equal(4242, vx.Vni);
        Assert.Equal(IPAddress.Parse("10.9.0.1"), vx.Local);
        Assert.Equal(links["br0"].Index, vx.UnderlyingIndex);
        Assert.Equal(4789, vx.DstPort);
        Assert.False(vx.Learning);

        Assert.Equal(MacvlanMode.Private, links["mv0"].MacvlanMode);
        Assert.Equal(links["vb"].Index, links["mv0"].PeerIndex);
    }

    [PrivilegedFact("ip")]
    public void Bridge_vxlan_and_macvlan_created_by_the_library_are_what_ip_shows()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();

        var bridge = ns.Netlink.CreateBridge("br0", new BridgeOptions { Mtu = 1450, Mac = MacA });
        var vxlan = ns.Netlink.CreateVxlan("vx0", new VxlanOptions
        {
            Vni = 77, Local = IPAddress.Parse("10.9.0.1"), UnderlyingIndex = bridge.Index, Mtu = 1400, Mac = MacB,
        });
        var vxlan6 = ns.Netlink.CreateVxlan("vx6", new VxlanOptions { Vni = 78, Local = IPAddress.Parse("fd00::1"), DstPort = 8472, Learning = true });
        var macvlan = ns.Netlink.CreateMacvlan("mv0", bridge.Index, MacvlanMode.Vepa);

        var br = ns.IpLink("br0");
        Assert.Equal("bridge", br.GetProperty("linkinfo").GetProperty("info_kind").GetString());
        Assert.Equal(1450, br.GetProperty("mtu").GetInt32());
        Assert.Equal("02:00:00:00:0a:01", br.GetProperty("address").GetString());

        var vx = ns.IpLink("vx0");
        var data = vx.GetProperty("linkinfo").GetProperty("info_data");
        Assert.Equal(77, data.GetProperty("id").GetInt32());
        Assert.Equal("10.9.0.1", data.GetProperty("local").GetString());
        Assert.Equal("br0", data.GetProperty("link").GetString());
        Assert.Equal(4789, data.GetProperty("port").GetInt32());
        Assert.False(data.GetProperty("learning").GetBoolean());
        Assert.Equal(1400, vx.GetProperty("mtu").GetInt32());
        Assert.Equal(77, vxlan.Vxlan!.Vni);

        var data6 = ns.IpLink("vx6").GetProperty("linkinfo").GetProperty("info_data");
        Assert.Equal("fd00::1", data6.GetProperty("local6").GetString());
        Assert.Equal(8472, data6.GetProperty("port").GetInt32());
        Assert.True(data6.GetProperty("learning").GetBoolean());
        Assert.Equal(IPAddress.Parse("fd00::1"), vxlan6.Vxlan!.Local);

        var mv = ns.IpLink("mv0");
        Assert.Equal("vepa", mv.GetProperty("linkinfo").GetProperty("info_data").GetProperty("mode").GetString());
        Assert.Equal("br0", mv.GetProperty("link").GetString());
        Assert.Equal(MacvlanMode.Vepa, macvlan.MacvlanMode);
    }

    [PrivilegedFact("ip")]
    public void Setters_change_what_ip_shows()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var bridge = ns.Netlink.CreateBridge("br0");
        var link = ns.Netlink.CreateVeth("va", "vb");

        ns.Netlink.SetLinkName(link.Index, "renamed");
        ns.Netlink.SetLinkMtu(link.Index, 1280);
        ns.Netlink.SetLinkMac(link.Index, MacA);
        ns.Netlink.SetLinkAlias(link.Index, "an alias");
        ns.Netlink.SetLinkMaster(link.Index, bridge.Index);
        ns.Netlink.SetLinkUp(link.Index);

        var ip = ns.IpLink("renamed");
        Assert.Equal(link.Index, ip.GetProperty("ifindex").GetInt32());
        Assert.Equal(1280, ip.GetProperty("mtu").GetInt32());
        Assert.Equal("02:00:00:00:0a:01", ip.GetProperty("address").GetString());
        Assert.Equal("an alias", ip.GetProperty("ifalias").GetString());
        Assert.Equal("br0", ip.GetProperty("master").GetString());
        Assert.Contains("UP", ip.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));

        ns.Netlink.SetLinkDown(link.Index);
        ns.Netlink.SetLinkNoMaster(link.Index);
        ns.Netlink.SetLinkAlias(link.Index, "");
        ip = ns.IpLink("renamed");
        Assert.DoesNotContain("UP", ip.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.False(ip.TryGetProperty("master", out _));
        Assert.False(ip.TryGetProperty("ifalias", out _));
        var read = ns.Netlink.GetLink(link.Index);
        Assert.Null(read.MasterIndex);
        Assert.Null(read.Alias);
        Assert.False(read.IsUp);
    }

    [PrivilegedFact("ip")]
    public void A_link_moves_to_another_namespace_by_fd()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        using var pod = KernelNetns.Create();
        host.Ip("link", "add", "eni1", "address", "02:00:00:00:0a:01", "type", "veth", "peer", "name", "eni1-peer");
        int index = host.IndexOf("eni1");

        host.Netlink.MoveLinkToNetns(index, pod.Handle);

        Assert.False(host.Netlink.TryGetLink("eni1", out _));
        Assert.Equal("02:00:00:00:0a:01", pod.IpLink("eni1").GetProperty("address").GetString());
        Assert.Equal(MacA, pod.Netlink.GetLink("eni1").Mac);
    }

    [PrivilegedFact("ip")]
    public void A_link_moves_and_is_renamed_in_one_request_never_renamed_at_the_source()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        using var pod = KernelNetns.Create();
        host.Ip("link", "add", "eni1", "type", "veth", "peer", "name", "eni1-peer");
        host.Ip("link", "add", "eni2", "type", "veth", "peer", "name", "eni2-peer");
        host.Ip("link", "set", "eni2", "alias", "before");
        int eni1 = host.IndexOf("eni1"), eni2 = host.IndexOf("eni2");

        host.Netlink.MoveLinkToNetns(eni1, pod.Handle, "eth0");

        Assert.False(host.Netlink.TryGetLink("eni1", out _));
        Assert.False(host.Netlink.TryGetLink("eth0", out _));
        Assert.Equal("veth", pod.IpLink("eth0").GetProperty("linkinfo").GetProperty("info_kind").GetString());

        // eth0 is taken in the pod now. The kernel moves first and renames after
        // (net/core/rtnetlink.c do_setlink), so eni2 ends up in the pod under its old name: the
        // caller must handle EEXIST there, not here. Same with `ip link set eni2 netns P name eth0`.
        // An alias in the same request comes after the rename: the link keeps the one it had.
        var taken = Assert.Throws<NetlinkException>(() => host.Netlink.MoveLinkToNetns(eni2, pod.Handle, "eth0", alias: "after"));
        Assert.Equal(Errno.EEXIST, taken.Error);
        Assert.False(host.Netlink.TryGetLink(eni2, out _));
        Assert.True(pod.Netlink.TryGetLink("eni2", out var moved));
        Assert.Equal("before", moved.Alias);
    }

    [PrivilegedFact("ip")]
    public void A_link_moves_is_renamed_and_comes_up_in_one_request()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        using var pod = KernelNetns.Create();
        host.Ip("link", "add", "eni1", "type", "veth", "peer", "name", "eni1-peer");
        host.Ip("link", "set", "eni1-peer", "up");

        host.Netlink.MoveLinkToNetns(host.IndexOf("eni1"), pod.Handle, "eth0", up: true, alias: "eni1");

        var moved = pod.Netlink.GetLink("eth0");
        Assert.True(moved.IsUp);
        Assert.Equal("eni1", moved.Alias);
        Assert.False(host.Netlink.TryGetLink("eni1", out _));
    }

    [PrivilegedFact("ip")]
    public void A_veth_can_be_created_with_its_local_end_up_and_its_peer_in_another_namespace()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        using var pod = KernelNetns.Create();

        var link = host.Netlink.CreateVeth("host0", "eth0", pod.Handle, new VethOptions { Up = true });

        Assert.True(link.IsUp);
        Assert.False(pod.Netlink.GetLink("eth0").IsUp); // the peer cannot be opened before the pair is linked
    }

    [PrivilegedFact("ip")]
    public void Expected_outcomes_map_to_errno_and_try_methods()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");

        var exists = Assert.Throws<NetlinkException>(() => ns.Netlink.CreateVeth("va", "vc"));
        Assert.Equal(Errno.EEXIST, exists.Error);
        Assert.True(exists.IsAlreadyExists);

        var missing = Assert.Throws<NetlinkException>(() => ns.Netlink.GetLink("nosuch"));
        Assert.Equal(Errno.ENODEV, missing.Error);
        Assert.True(missing.IsNotFound);
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => ns.Netlink.GetLink(99999)).Error);
        Assert.Equal(Errno.ENODEV, Assert.Throws<NetlinkException>(() => ns.Netlink.DeleteLink(99999)).Error);
        Assert.False(ns.Netlink.TryGetLink("nosuch", out _));
        Assert.False(ns.Netlink.TryGetLink(99999, out _));

        Assert.True(ns.Netlink.TryGetLink(link.Index, out var again));
        Assert.Equal("va", again.Name);
        Assert.True(ns.Netlink.TryDeleteLink("va"));
        Assert.False(ns.Netlink.TryDeleteLink("va"));
        Assert.Empty(ns.IpJson("link", "show", "type", "veth").EnumerateArray());
    }

    [PrivilegedFact("ip")]
    public void A_refused_link_request_carries_the_kernels_extended_ack_text()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        var link = ns.Netlink.CreateVeth("va", "vb");

        // A veth is not a master device: it has no ndo_add_slave, so net/core/rtnetlink.c
        // do_set_master refuses IFLA_MASTER with EOPNOTSUPP (and no ext-ack text; `ip link set va
        // master vb` says "Operation not supported").
        var e = Assert.Throws<NetlinkException>(() => ns.Netlink.SetLinkMaster(link.Index, link.PeerIndex!.Value));
        Assert.Equal(Errno.EOPNOTSUPP, e.Error);

        // An MTU above the device's maximum is refused with an ext-ack text
        // (net/core/dev.c dev_validate_mtu: "mtu greater than device maximum").
        var mtu = Assert.Throws<NetlinkException>(() => ns.Netlink.SetLinkMtu(link.Index, 1_000_000));
        Assert.Equal(Errno.EINVAL, mtu.Error);
        Assert.Equal("mtu greater than device maximum", mtu.KernelMessage);
        Assert.Contains(mtu.KernelMessage!, mtu.Message);

        // Bad VXLANs (drivers/net/vxlan/vxlan_core.c vxlan_config_validate).
        var noLower = Assert.Throws<NetlinkException>(() => ns.Netlink.CreateVxlan("vx0", new VxlanOptions { Vni = 5, UnderlyingIndex = 99999 }));
        Assert.Equal(Errno.ENODEV, noLower.Error);
        Assert.Equal("Invalid local interface, device not found", noLower.KernelMessage);
        ns.Netlink.CreateVxlan("vx0", new VxlanOptions { Vni = 5 });
        var sameVni = Assert.Throws<NetlinkException>(() => ns.Netlink.CreateVxlan("vx1", new VxlanOptions { Vni = 5 }));
        Assert.Equal(Errno.EEXIST, sameVni.Error);
        Assert.Equal("A VXLAN device with the specified VNI already exists", sameVni.KernelMessage);
    }

    [PrivilegedFact("ip")]
    public void A_dump_of_hundreds_of_links_spans_many_datagrams()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        const int Pairs = 110;
        for (int i = 0; i < Pairs; i++) ns.Netlink.CreateVeth($"a{i}", $"b{i}");

        var links = ns.Netlink.ListLinks();

        Assert.Equal(2 * Pairs + 1, links.Count);
        var ip = ns.IpJson("link", "show").EnumerateArray().Select(l => (l.GetProperty("ifindex").GetInt32(), l.GetProperty("ifname").GetString()!));
        Assert.Equal(ip.Order(), links.Select(l => (l.Index, l.Name)).Order());
    }

    private static string OperStates(KernelNetns ns) => OperStates(ns.IpJson("link", "show").EnumerateArray());

    private static string OperStates(IEnumerable<JsonElement> ipLinks) =>
        string.Join(',', ipLinks.Select(l => $"{l.GetProperty("ifname").GetString()}={l.GetProperty("operstate").GetString()}"));

    private static string? FormatMac(PhysicalAddress? mac) =>
        mac is null ? null : string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2")));
}
