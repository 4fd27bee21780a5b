namespace Fathom.Testing;

/// <summary>
/// Two "nodes" on one L2 fabric, made with iproute2 (independent of the code under test): a
/// fabric netns holding a bridge, and two node namespaces whose eth0 (10.80.0.1/24 and
/// 10.80.0.2/24, MTU 1500) are veths into it, with IP forwarding on. Each node also gets a pod
/// netns. Everything is removed on dispose, even when the test failed.
/// </summary>
public sealed class TwoNodeFabric : IDisposable
{
    public TestNetns Fabric { get; }
    public TestNetns[] Nodes { get; }
    public TestNetns[] Pods { get; }

    /// <summary>The nodes' fabric addresses.</summary>
    public static readonly string[] NodeIps = ["10.80.0.1", "10.80.0.2"];

    public TwoNodeFabric(string area)
    {
        var made = new List<TestNetns>();
        try
        {
            Fabric = Add(made, area);
            Nodes = [Add(made, area), Add(made, area)];
            Pods = [Add(made, area), Add(made, area)];
            Shell.IpIn(Fabric.Name, "link", "add", "br0", "type", "bridge");
            Shell.IpIn(Fabric.Name, "link", "set", "br0", "up");
            for (var i = 0; i < 2; i++)
            {
                var port = $"n{i}";
                Shell.IpIn(Fabric.Name, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", Nodes[i].Name);
                Shell.IpIn(Fabric.Name, "link", "set", port, "master", "br0", "up");
                Shell.IpIn(Nodes[i].Name, "addr", "add", $"{NodeIps[i]}/24", "dev", "eth0");
                Shell.IpIn(Nodes[i].Name, "link", "set", "eth0", "up");
                Shell.Exec(Nodes[i].Name, "sysctl", "-qw", "net.ipv4.ip_forward=1").EnsureSuccess("sysctl ip_forward");
            }
        }
        catch
        {
            foreach (var ns in made) ns.Dispose();
            throw;
        }
    }

    private static TestNetns Add(List<TestNetns> made, string area)
    {
        var ns = TestNetns.Create(area);
        made.Add(ns);
        return ns;
    }

    /// <summary>Whether pod <paramref name="from"/> pings <paramref name="ip"/> (one try, 2 s bound, up to three tries).</summary>
    public bool Pings(int from, string ip)
    {
        for (var attempt = 0; attempt < 3; attempt++)
            if (Shell.Exec(Pods[from].Name, "ping", "-c1", "-W2", ip).ExitCode == 0) return true;
        return false;
    }

    public void Dispose()
    {
        foreach (var ns in Pods.Concat(Nodes).Append(Fabric)) ns.Dispose();
    }
}
