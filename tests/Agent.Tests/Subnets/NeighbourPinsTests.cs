using System.Net;
using System.Net.NetworkInformation;
using Fathom.Agent.Protocol;
using Fathom.Agent.Subnets;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Tests.Subnets;

/// <summary>
/// The node's pins shared by its two subnet modes (<see cref="NeighbourPins"/>), on the real kernel:
/// a pin left by an earlier run goes only once both modes have said which they need, a pin the other
/// mode needs stays, and a mode's own lost peer goes at once.
/// </summary>
public sealed class NeighbourPinsTests
{
    private static PeerSubnet Peer(int n) =>
        new(IpPrefix.Parse($"10.244.{n}.0/24"), IPAddress.Parse($"10.80.0.{n}"), NodeMac: PhysicalAddress.Parse($"02-AA-BB-CC-DD-{n:X2}"));

    [PrivilegedFact("ip")]
    public void Pins_go_when_no_mode_needs_them_and_a_stale_one_once_both_modes_have_said()
    {
        using var node = TestNetns.Create("pin");
        Shell.IpIn(node.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "fabric");
        Shell.IpIn(node.Name, "link", "set", "eth0", "up");
        // Left by an earlier run for a node that went while the agent was down.
        Shell.IpIn(node.Name, "neigh", "add", "10.80.0.77", "lladdr", "02:aa:bb:cc:dd:77", "dev", "eth0", "nud", "permanent", "proto", "95");
        using var ns = Netns.Open(node.Path);
        using var host = NetlinkHandle.OpenIn(ns);
        var eth0 = host.GetLink("eth0").Index;
        string Pinned() => Shell.IpIn(node.Name, "neigh", "show", "proto", "95");
        var pins = new NeighbourPins(modes: 2);

        pins.Reconcile(host, eth0, AllocationMode.HostGw, [Peer(2), Peer(3)]);
        Assert.Contains("10.80.0.77", Pinned());          // overlay has not said yet
        pins.Reconcile(host, eth0, AllocationMode.HostGw, [Peer(2)]);
        Assert.DoesNotContain("10.80.0.3 ", Pinned());    // host-gw's own lost peer: at once
        Assert.Contains("10.80.0.77", Pinned());

        pins.Reconcile(host, eth0, AllocationMode.Overlay, [Peer(2), Peer(4)]);
        Assert.DoesNotContain("10.80.0.77", Pinned());    // both have said: nobody's
        pins.Reconcile(host, eth0, AllocationMode.HostGw, []);
        Assert.Contains("10.80.0.2 ", Pinned());          // overlay still needs it
        pins.Reconcile(host, eth0, AllocationMode.Overlay, []);
        Assert.Equal("", Pinned().Trim());
    }
}
