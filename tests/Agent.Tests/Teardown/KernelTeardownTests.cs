using Fathom.Agent.Teardown;
using Fathom.Datapath;
using Fathom.Netlink;
using Fathom.Testing;

namespace Fathom.Agent.Tests.Teardown;

/// <summary>
/// <see cref="KernelTeardown"/> on the real kernel, each test in fresh namespaces: a "node" (where
/// the agent runs), a "pod", and a "peer" holding the other end of the veth that stands in for an
/// ENI. Every job runs twice: a job cut short by a crash runs again from the start.
/// </summary>
public sealed class KernelTeardownTests : IDisposable
{
    private const string Eni = "eni7";
    private const string EniMac = "02:f0:0d:00:07:01";

    private readonly TestNetns _node = TestNetns.Create("kt");
    private readonly TestNetns _pod = TestNetns.Create("kt");
    private readonly TestNetns _peer = TestNetns.Create("kt");

    public void Dispose()
    {
        _pod.Dispose();
        _node.Dispose();
        _peer.Dispose();
    }

    private void RunTwice(TeardownJob job)
    {
        using var node = Netns.Open(_node.Path);
        using var teardown = new KernelTeardown(node);
        teardown.ExecuteAsync(job, CancellationToken.None).GetAwaiter().GetResult();
        teardown.ExecuteAsync(job, CancellationToken.None).GetAwaiter().GetResult();
    }

    private TeardownJob ReturnJob(string? netns) => new()
    {
        Action = TeardownAction.ReturnEni, Device = Eni, Mac = EniMac, EniId = "eni-07", NetnsPath = netns, PodIfName = "eth0",
    };

    // The ENI as an ADD leaves it: in the pod as eth0, its host name in its alias, and the node veth.
    private void PodHoldsTheEni()
    {
        Shell.IpIn(_node.Name, "link", "add", Eni, "address", EniMac, "type", "veth", "peer", "name", "peer0", "netns", _peer.Name);
        Shell.IpIn(_node.Name, "link", "set", Eni, "alias", Eni);
        Shell.IpIn(_node.Name, "link", "set", Eni, "netns", _pod.Name, "name", "eth0");
        Shell.IpIn(_pod.Name, "link", "set", "eth0", "up");
        Shell.IpIn(_node.Name, "link", "add", NodeVeth.HostNameForEni(EniMac), "type", "veth", "peer", "name", PodEni.NodeVethPodName,
            "netns", _pod.Name);
    }

    private string NodeLinks() => Shell.IpIn(_node.Name, "-br", "link", "show");

    [PrivilegedFact("ip")]
    public void ReturnEni_moves_the_eni_back_under_its_host_name_and_deletes_the_node_veth()
    {
        PodHoldsTheEni();
        RunTwice(ReturnJob(_pod.Path));
        var links = NodeLinks();
        Assert.Contains(Eni, links);
        Assert.Contains(EniMac, Shell.IpIn(_node.Name, "link", "show", Eni));
        Assert.DoesNotContain(NodeVeth.HostNameForEni(EniMac), links);
        Assert.DoesNotContain("eth0", Shell.IpIn(_pod.Name, "-br", "link", "show"));
    }

    [PrivilegedFact("ip")]
    public void ReturnEni_after_the_netns_went_renames_what_the_kernel_gave_back()
    {
        PodHoldsTheEni();
        // What default_device_exit does to a NIC of a dying netns: back on the node under its pod name.
        Shell.IpIn(_pod.Name, "link", "set", "eth0", "netns", _node.Name);
        RunTwice(ReturnJob("/run/netns/ftwire-kt-gone"));
        var links = NodeLinks();
        Assert.Contains(Eni, links);
        Assert.DoesNotContain("eth0", links);
        Assert.Contains(EniMac, Shell.IpIn(_node.Name, "link", "show", Eni));
    }

    [PrivilegedFact("ip")]
    public void ReturnEni_of_a_device_that_died_with_its_netns_waits_until_it_is_plugged_back()
    {
        PodHoldsTheEni();
        Shell.IpIn(_pod.Name, "link", "del", "eth0");
        using (var node = Netns.Open(_node.Path))
        using (var teardown = new KernelTeardown(node))
        {
            // Not done while the device is missing: the ENI must not look warm without its device.
            var e = Assert.Throws<InvalidOperationException>(() => teardown.ExecuteAsync(ReturnJob(null), CancellationToken.None).GetAwaiter().GetResult());
            Assert.Contains("not back on the node yet", e.Message, StringComparison.Ordinal);
        }
        Assert.DoesNotContain(NodeVeth.HostNameForEni(EniMac), NodeLinks());
        // Plugged back under its name, as the lab (or a hypervisor) does: now the job is done.
        Shell.IpIn(_node.Name, "link", "add", Eni, "address", EniMac, "type", "veth", "peer", "name", "peer1", "netns", _peer.Name);
        RunTwice(ReturnJob(null));
        Assert.Contains(Eni, NodeLinks());
    }

    [PrivilegedFact("ip")]
    public void DeleteVeth_with_the_pods_ip_removes_its_rules_after_the_veth_and_route_went_and_leaves_other_pods_rules()
    {
        Shell.IpIn(_node.Name, "rule", "add", "pref", "512", "to", "10.1.0.8/32", "lookup", "main");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "1536", "from", "10.1.0.8/32", "lookup", "101");
        // Another pod's rules, even one whose route is gone too: a job that knows its IP removes only its own.
        Shell.IpIn(_node.Name, "rule", "add", "pref", "512", "to", "10.1.0.9/32", "lookup", "main");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "1536", "from", "10.1.0.9/32", "lookup", "101");
        RunTwice(new TeardownJob
        {
            Action = TeardownAction.DeleteVeth, Device = "fthkt0000003", NetnsPath = "/run/netns/ftwire-kt-gone", PodIfName = "eth0",
            PodIp = "10.1.0.8", RouteTable = 101,
        });
        var rules = Shell.IpIn(_node.Name, "rule", "show");
        Assert.DoesNotContain("10.1.0.8", rules);
        Assert.Contains("from 10.1.0.9 lookup 101", rules);
        Assert.Contains("to 10.1.0.9 lookup main", rules);
    }

    [PrivilegedFact("ip")]
    public void DeleteVeth_removes_the_shared_pods_rules_and_veth()
    {
        const string veth = "fthkt0000001";
        Shell.IpIn(_node.Name, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", _pod.Name);
        Shell.IpIn(_node.Name, "link", "set", veth, "up");
        Shell.IpIn(_node.Name, "route", "add", "10.1.0.5/32", "dev", veth, "scope", "link");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "512", "to", "10.1.0.5/32", "lookup", "main");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "1536", "from", "10.1.0.5/32", "lookup", "101");
        RunTwice(new TeardownJob { Action = TeardownAction.DeleteVeth, Device = veth, NetnsPath = _pod.Path, PodIfName = "eth0" });
        Assert.DoesNotContain(veth, NodeLinks());
        Assert.DoesNotContain("10.1.0.5", Shell.IpIn(_node.Name, "rule", "show"));
    }

    [PrivilegedFact("ip")]
    public void DeleteVeth_after_the_pods_netns_went_removes_the_rules_left_without_a_pod()
    {
        const string veth = "fthkt0000002";
        Shell.IpIn(_node.Name, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", _pod.Name);
        Shell.IpIn(_node.Name, "rule", "add", "pref", "512", "to", "10.1.0.6/32", "lookup", "main");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "1536", "from", "10.1.0.6/32", "lookup", "101");
        // A live shared pod: its route, its rules. They stay.
        Shell.IpIn(_node.Name, "link", "add", "fthlive", "type", "veth", "peer", "name", "eth1", "netns", _pod.Name);
        Shell.IpIn(_node.Name, "link", "set", "fthlive", "up");
        Shell.IpIn(_node.Name, "route", "add", "10.1.0.7/32", "dev", "fthlive", "scope", "link");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "512", "to", "10.1.0.7/32", "lookup", "main");
        Shell.IpIn(_node.Name, "rule", "add", "pref", "1536", "from", "10.1.0.7/32", "lookup", "101");
        // The pod's end goes, and the kernel takes the node's end with it.
        Shell.IpIn(_pod.Name, "link", "del", "eth0");
        RunTwice(new TeardownJob { Action = TeardownAction.DeleteVeth, Device = veth, NetnsPath = _pod.Path, PodIfName = "eth0" });
        var rules = Shell.IpIn(_node.Name, "rule", "show");
        Assert.DoesNotContain("10.1.0.6", rules);
        Assert.Contains("from 10.1.0.7 lookup 101", rules);
        Assert.Contains("to 10.1.0.7 lookup main", rules);
    }
}
