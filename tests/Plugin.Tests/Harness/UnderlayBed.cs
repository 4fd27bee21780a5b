namespace Fathom.Plugin.Tests.Harness;

/// <summary>
/// The test bed of one underlay test, all in fresh namespaces: a "host" (where the plugin runs,
/// as a node would), a "pod", and a "peer" standing for the rest of the subnet. The device the
/// plugin hands to the pod is a veth end in the host (<see cref="Device"/>, fixed MAC and MTU so
/// two beds compare field by field) whose other end sits in the peer with the gateway address.
/// Dispose deletes every namespace, which also destroys the veth wherever it is by then.
/// </summary>
internal sealed class UnderlayBed : IDisposable
{
    public const string Device = "ul0";
    public const string DeviceMac = "02:f0:0d:00:00:01";
    public const int DeviceMtu = 1400;
    public const string PodAddress = "10.10.0.1/24";
    public const string Gateway = "10.10.0.254";

    public TestNetns Host { get; }
    public TestNetns Pod { get; }
    public TestNetns Peer { get; }

    private UnderlayBed(TestNetns host, TestNetns pod, TestNetns peer) => (Host, Pod, Peer) = (host, pod, peer);

    public static UnderlayBed Create()
    {
        var made = new List<TestNetns>();
        try
        {
            made.Add(TestNetns.Create("ul"));
            made.Add(TestNetns.Create("ul"));
            made.Add(TestNetns.Create("ul"));
            var bed = new UnderlayBed(made[0], made[1], made[2]);
            bed.AddDevice(Device, DeviceMac, "peer0", Gateway + "/24");
            // Up on the host, as in host-device's tests: a refused or failed ADD must leave it up.
            Shell.IpIn(bed.Host.Name, "link", "set", Device, "up");
            return bed;
        }
        catch
        {
            foreach (var ns in made) ns.Dispose();
            throw;
        }
    }

    /// <summary>Makes a veth <paramref name="name"/> in the host, its other end in the peer (up, with <paramref name="peerAddress"/>).</summary>
    public void AddDevice(string name, string mac, string peerName, string? peerAddress)
    {
        Shell.IpIn(Host.Name, "link", "add", name, "address", mac, "mtu", DeviceMtu.ToString(),
            "type", "veth", "peer", "name", peerName, "netns", Peer.Name);
        Shell.IpIn(Peer.Name, "link", "set", peerName, "mtu", DeviceMtu.ToString(), "up");
        if (peerAddress is not null) Shell.IpIn(Peer.Name, "addr", "add", peerAddress, "dev", peerName);
    }

    /// <summary>Unique per bed: plugins such as tuning keep state files named by container ID in the shared /run.</summary>
    public string ContainerId => "ctr-" + Pod.Name;

    public CniCall Call(string command, string cniPath, string ifName = "eth0") =>
        new(command, ContainerId, Pod.Path, ifName, cniPath);

    public void Dispose()
    {
        Pod.Dispose();
        Host.Dispose();
        Peer.Dispose();
    }
}
