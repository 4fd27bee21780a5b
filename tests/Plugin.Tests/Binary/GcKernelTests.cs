using Fathom.Plugin.Tests.Harness;
namespace Fathom.Plugin.Tests.Binary;

/// <summary>
/// GC through the published AOT plugin (its records are source-generated JSON, which only the
/// AOT build proves), with host-local and a real device: a veth end in a fresh "host" netns
/// moved into fresh "pod" namespaces, as in <see cref="PluginIpamKernelTests"/>. The runtime
/// loses a pod without a DEL; GC gives its address back.
/// </summary>
public sealed class GcKernelTests : IDisposable
{
    private readonly DirectoryInfo _dataDir = Directory.CreateTempSubdirectory("fathom-gc-kernel-");
    private readonly List<TestNetns> _namespaces = [];

    public void Dispose()
    {
        foreach (var ns in _namespaces) ns.Dispose();
        _dataDir.Delete(recursive: true);
    }

    private TestNetns Netns()
    {
        var ns = TestNetns.Create("gc");
        _namespaces.Add(ns);
        return ns;
    }

    private string Config(string device, string extra = "") => $$$"""
        {"cniVersion":"1.1.0","name":"gcnet","type":"fathom","device":"{{{device}}}","dataDir":"{{{Records}}}"{{{extra}}},
         "ipam":{"type":"host-local","dataDir":"{{{_dataDir.FullName}}}","ranges":[[{"subnet":"10.94.0.0/24"}]]}}
        """;

    private string Records => Path.Combine(_dataDir.FullName, "records");

    private string[] Leases() => [.. Directory.GetFiles(Path.Combine(_dataDir.FullName, "gcnet"), "10.94.*")
        .Select(f => File.ReadAllLines(f)[0]).Order(StringComparer.Ordinal)];

    private static Dictionary<string, string> Env(string command, string container, TestNetns pod)
    {
        var env = CniCall.Env(command);
        env["CNI_CONTAINERID"] = container;
        env["CNI_NETNS"] = pod.Path;
        return env;
    }

    [PrivilegedFact("ip")]
    public void GC_releases_the_lease_of_a_pod_that_vanished_without_a_DEL()
    {
        Privileged.Require("ip");
        var host = Netns();
        var kept = Netns();
        var lost = Netns();
        // Two devices, each a veth end whose peer stays on the host (a pair would die together).
        Shell.IpIn(host.Name, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p");
        Shell.IpIn(host.Name, "link", "add", "ul1", "type", "veth", "peer", "name", "ul1p");

        CniExec.Run(Env("ADD", "kept", kept), Config("ul0"), host.Name).EnsureSuccess();
        CniExec.Run(Env("ADD", "lost", lost), Config("ul1"), host.Name).EnsureSuccess();
        Assert.Equal(["kept", "lost"], Leases());
        Assert.True(File.Exists(Path.Combine(Records, "gcnet", "lost-eth0.json")));

        // The runtime loses the pod (its netns, and the veth end in it, are gone) and never DELs it.
        Shell.Ip("netns", "del", lost.Name);
        var gc = new Dictionary<string, string> { ["CNI_COMMAND"] = "GC", ["CNI_PATH"] = "/usr/lib/cni" };
        var valid = ""","cni.dev/valid-attachments":[{"containerID":"kept","ifname":"eth0"}]""";
        CniExec.Run(gc, Config("ul0", valid), host.Name).EnsureSuccess();
        Assert.Equal(["kept"], Leases());
        Assert.Equal(["kept-eth0.json"], Directory.GetFiles(Path.Combine(Records, "gcnet"), "*.json").Select(f => Path.GetFileName(f)));
        Assert.Contains("10.94.0.", Shell.IpIn(kept.Name, "addr", "show", "dev", "eth0"));

        // Harmless the second time; the kept pod's DEL then takes its record with it.
        CniExec.Run(gc, Config("ul0", valid), host.Name).EnsureSuccess();
        CniExec.Run(Env("DEL", "kept", kept), Config("ul0"), host.Name).EnsureSuccess();
        Assert.Empty(Leases());
        Assert.Empty(Directory.GetFiles(Path.Combine(Records, "gcnet")));
    }
}
