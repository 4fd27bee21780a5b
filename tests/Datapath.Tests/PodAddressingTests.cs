using System.Net;
using System.Text.Json;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Tests;

/// <summary>
/// Pod addressing, which every mode uses: an IPAM result applied to an interface in a fresh
/// netns through a handle opened in it, checked with iproute2, and CHECK's verification of it.
/// </summary>
public sealed class PodAddressingTests
{
    [Theory]
    [InlineData("10.10.0.1/24", "10.10.0.255")]
    [InlineData("10.10.0.9/20", "10.10.15.255")]
    [InlineData("10.10.0.1/31", null)] // RFC 3021 point-to-point: no broadcast
    [InlineData("10.10.0.1/32", null)]
    public void Broadcast_is_the_subnets_last_address(string prefix, string? broadcast) =>
        Assert.Equal(broadcast, PodAddressing.Broadcast(IpPrefix.Parse(prefix))?.ToString());

    private static CniResult Result() => new()
    {
        Ips = [new CniIpConfig(IpPrefix.Parse("10.77.0.5/24"), IPAddress.Parse("10.77.0.1"), 0), new CniIpConfig(IpPrefix.Parse("fd77::5/64"), null, 0)],
        Routes = [new CniRoute(IpPrefix.Parse("0.0.0.0/0")), new CniRoute(IpPrefix.Parse("10.88.0.0/16"), IPAddress.Parse("10.77.0.254"))],
    };

    /// <summary>A fresh netns holding eth0 (one end of a veth, up) and a handle opened in it.</summary>
    private sealed class PodEth0 : IDisposable
    {
        private readonly NetnsHandle _ns;

        public TestNetns Pod { get; } = TestNetns.Create("pa");
        public NetlinkHandle Netlink { get; }
        public int Index { get; }

        public PodEth0()
        {
            try
            {
                Shell.IpIn(Pod.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
                Shell.IpIn(Pod.Name, "link", "set", "eth0", "up");
                _ns = Netns.Open(Pod.Path);
                Netlink = NetlinkHandle.OpenIn(_ns);
                Index = Netlink.GetLink("eth0").Index;
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Netlink?.Dispose();
            _ns?.Dispose();
            Pod.Dispose();
        }
    }

    [PrivilegedFact("ip")]
    public void Apply_adds_every_address_and_route_and_Verify_accepts_them()
    {
        using var eth0 = new PodEth0();
        var (pod, netlink, index) = (eth0.Pod, eth0.Netlink, eth0.Index);

        PodAddressing.Apply(netlink, index, "eth0", Result());

        var addr = JsonDocument.Parse(Shell.IpIn(pod.Name, "-j", "addr", "show", "dev", "eth0")).RootElement[0].GetProperty("addr_info");
        var v4 = addr.EnumerateArray().Single(a => a.GetProperty("local").GetString() == "10.77.0.5");
        Assert.Equal(24, v4.GetProperty("prefixlen").GetInt32());
        Assert.Equal("10.77.0.255", v4.GetProperty("broadcast").GetString());
        Assert.Contains(addr.EnumerateArray(), a => a.GetProperty("local").GetString() == "fd77::5");
        var routes = Shell.IpIn(pod.Name, "route", "show");
        Assert.Contains("default via 10.77.0.1 dev eth0", routes); // a route without a gateway takes its family's
        Assert.Contains("10.88.0.0/16 via 10.77.0.254 dev eth0", routes);

        PodAddressing.Verify(netlink, index, "eth0", pod.Path, Result(), interfaceIndex: 0);
        // Applying again with skipExisting (DEL restoring a pod) changes nothing and fails on nothing.
        PodAddressing.Apply(netlink, index, "eth0", Result(), skipExisting: true);
    }

    [PrivilegedFact("ip")]
    public void Verify_names_a_missing_route_and_a_missing_address()
    {
        using var eth0 = new PodEth0();
        var (pod, netlink, index) = (eth0.Pod, eth0.Netlink, eth0.Index);
        PodAddressing.Apply(netlink, index, "eth0", Result());

        Shell.IpIn(pod.Name, "route", "del", "10.88.0.0/16");
        var route = Assert.Throws<CniException>(() => PodAddressing.Verify(netlink, index, "eth0", pod.Path, Result(), 0));
        Assert.Equal(CniErrorCode.CheckFailed, route.Code);
        Assert.Contains("10.88.0.0/16 via 10.77.0.254", route.Message);

        Shell.IpIn(pod.Name, "addr", "del", "10.77.0.5/24", "dev", "eth0");
        var address = Assert.Throws<CniException>(() => PodAddressing.Verify(netlink, index, "eth0", pod.Path, Result(), 0));
        Assert.Contains("10.77.0.5/24", address.Message);
    }

    [PrivilegedFact("ip")]
    public void A_refused_address_is_error_104_naming_what_was_done()
    {
        using var pod = TestNetns.Create("pa");
        using var ns = Netns.Open(pod.Path);
        using var netlink = NetlinkHandle.OpenIn(ns);
        var e = Assert.Throws<CniException>(() => PodAddressing.Apply(netlink, 9999, "ghost0", Result()));
        Assert.Equal(CniErrorCode.DatapathFailure, e.Code);
        Assert.StartsWith("failed to add address 10.77.0.5/24 to ghost0:", e.Message);
    }
}
