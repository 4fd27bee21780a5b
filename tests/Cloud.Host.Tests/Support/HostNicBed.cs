using System.Diagnostics;

namespace Fathom.Cloud.Host.Tests.Support;

/// <summary>
/// A node whose NICs someone else plugs in: a throwaway node netns, a "fabric" netns with a bridge
/// (10.77.0.1/24, the subnet's router) standing for the hypervisor's switch, and veths plugged on
/// demand — the node end named as a NIC with a fixed MAC, the other end on the bridge (this kernel
/// has no dummy driver, and a veth carries traffic, which a dummy would not). Optionally dnsmasq on
/// the bridge. Everything is removed on dispose, whatever the test did.
/// </summary>
internal sealed class HostNicBed : IDisposable
{
    public const string Gateway = "10.77.0.1";
    private readonly List<TestNetns> _netns = [];
    private Process? _dnsmasq;

    private HostNicBed()
    {
        Node = Add("hn");
        Fabric = Add("hf");
        Dir = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}host-{Guid.NewGuid():N}"[..32]);
        Directory.CreateDirectory(Dir);
    }

    public TestNetns Node { get; }
    public TestNetns Fabric { get; }

    /// <summary>A scratch directory (state, sockets, configs) removed on dispose.</summary>
    public string Dir { get; }

    public static HostNicBed Create()
    {
        var bed = new HostNicBed();
        try
        {
            Shell.IpIn(bed.Fabric.Name, "link", "add", "br0", "type", "bridge");
            Shell.IpIn(bed.Fabric.Name, "addr", "add", Gateway + "/24", "dev", "br0");
            Shell.IpIn(bed.Fabric.Name, "link", "set", "br0", "up");
            return bed;
        }
        catch
        {
            bed.Dispose();
            throw;
        }
    }

    /// <summary>The MAC the bed gives NIC number <paramref name="n"/>.</summary>
    public static string MacOf(int n) => $"02:77:00:00:00:{n:x2}";

    /// <summary>Hot-plugs NIC <paramref name="n"/> into the node as <paramref name="name"/>, its other end on the fabric's bridge.</summary>
    public void Plug(string name, int n)
    {
        Shell.IpIn(Fabric.Name, "link", "add", $"sw{n}", "type", "veth", "peer", "name", name, "address", MacOf(n), "netns", Node.Name);
        Shell.IpIn(Fabric.Name, "link", "set", $"sw{n}", "master", "br0", "up");
    }

    /// <summary>Unplugs NIC <paramref name="n"/> (wherever its node end is now, as a hypervisor's hot-remove).</summary>
    public void Unplug(int n) => Shell.IpIn(Fabric.Name, "link", "del", $"sw{n}");

    /// <summary>A pod's netns, removed with the bed.</summary>
    public TestNetns Pod() => Add("hp");

    /// <summary>Starts dnsmasq on the bridge, with reservations MAC → address.</summary>
    public void ServeDhcp(params (int Nic, string Address)[] reservations)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", Fabric.Name, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
                     "--interface=br0", "--bind-interfaces", "--except-interface=lo", "--dhcp-range=10.77.0.0,static,255.255.255.0,1h",
                     "--dhcp-authoritative", "--dhcp-rapid-commit", $"--dhcp-leasefile={Dir}/dnsmasq.leases", $"--pid-file={Dir}/dnsmasq.pid",
                     $"--log-facility={Dir}/dnsmasq.log", "--log-dhcp", "--user=root",
                     .. reservations.Select(r => $"--dhcp-host={MacOf(r.Nic)},{r.Address}")])
            psi.ArgumentList.Add(a);
        _dnsmasq = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dnsmasq");
        // The pid file is written once the DHCP socket is bound.
        Eventually.True(() => File.Exists($"{Dir}/dnsmasq.pid") || _dnsmasq.HasExited, "dnsmasq serving");
        Assert.False(_dnsmasq.HasExited, $"dnsmasq exited: {(File.Exists($"{Dir}/dnsmasq.log") ? File.ReadAllText($"{Dir}/dnsmasq.log") : "")}");
    }

    private TestNetns Add(string area)
    {
        var netns = TestNetns.Create(area);
        _netns.Add(netns);
        return netns;
    }

    public void Dispose()
    {
        if (_dnsmasq is { HasExited: false })
        {
            _dnsmasq.Kill();
            _dnsmasq.WaitForExit(5000);
        }
        _dnsmasq?.Dispose();
        foreach (var netns in Enumerable.Reverse(_netns)) netns.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
