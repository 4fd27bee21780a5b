using Fathom.Cni;
using Fathom.Plugin.Tests.Harness;
using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Binary;

/// <summary>
/// The AOT plugin with real delegated IPAM (host-local, static) and a real device: run inside a
/// fresh "host" netns (ip netns exec), moving a veth end into a fresh "pod" netns. The kernel
/// state is cross-checked with iproute2; host-local keeps its leases in a temporary dataDir.
/// </summary>
public sealed class PluginIpamKernelTests : IDisposable
{
    private readonly DirectoryInfo _dataDir = Directory.CreateTempSubdirectory("fathom-cni-kernel-");
    private readonly List<TestNetns> _namespaces = [];

    public void Dispose()
    {
        foreach (var ns in _namespaces) ns.Dispose();
        _dataDir.Delete(recursive: true);
    }

    private (TestNetns Host, TestNetns Pod) HostAndPod()
    {
        var host = TestNetns.Create("cni");
        _namespaces.Add(host);
        var pod = TestNetns.Create("cni");
        _namespaces.Add(pod);
        // The "device" is a veth end in the host netns; its peer stays there too.
        Shell.IpIn(host.Name, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0p");
        return (host, pod);
    }

    private string HostLocal(string version, string extra = "") => $$$"""
        {"cniVersion":"{{{version}}}","name":"kernelnet","type":"fathom","device":"ul0","dataDir":"{{{Records}}}"{{{extra}}},
         "ipam":{"type":"host-local","dataDir":"{{{_dataDir.FullName}}}",
                 "ranges":[[{"subnet":"10.98.0.0/24","gateway":"10.98.0.1"}]],
                 "routes":[{"dst":"0.0.0.0/0"}]}
        }
        """;

    // fathom's attachment records, beside host-local's leases.
    private string Records => Path.Combine(_dataDir.FullName, "records");

    private string[] Leases() =>
        Directory.Exists(Path.Combine(_dataDir.FullName, "kernelnet"))
            ? Directory.GetFiles(Path.Combine(_dataDir.FullName, "kernelnet"), "10.98.*")
            : [];

    private static Dictionary<string, string> Env(string command, TestNetns pod, string ifName = "eth0")
    {
        var env = CniCall.Env(command, ifName);
        env["CNI_NETNS"] = pod.Path;
        return env;
    }

    private static JsonArray AddressesOf(string netns, string dev) =>
        JsonNode.Parse(Shell.IpIn(netns, "-j", "addr", "show", "dev", dev))![0]!["addr_info"]!.AsArray();

    private static bool HasLink(string netns, string dev) =>
        Shell.Run("ip", ["-n", netns, "link", "show", "dev", dev]).ExitCode == 0;

    [PrivilegedTheory("ip")]
    [MemberData(nameof(UnderlayConfigs.AllVersions), MemberType = typeof(UnderlayConfigs))]
    public void ADD_CHECK_DEL_with_host_local(string version)
    {
        Privileged.Require("ip");
        var (host, pod) = HostAndPod();

        var added = CniExec.Run(Env("ADD", pod), HostLocal(version), host.Name).EnsureSuccess();
        var ip = added.Body["ips"]![0]!;
        Assert.Equal("10.98.0.2/24", (string)ip["address"]!);
        Assert.Equal(0, (int)ip["interface"]!);
        Assert.Equal(pod.Path, (string)added.Body["interfaces"]![0]!["sandbox"]!);

        // The kernel agrees: eth0 in the pod with the address and a default route via the gateway.
        var addr = Assert.Single(AddressesOf(pod.Name, "eth0"), a => (string)a!["family"]! == "inet")!;
        Assert.Equal("10.98.0.2", (string)addr["local"]!);
        Assert.Equal(24, (int)addr["prefixlen"]!);
        Assert.Contains("default via 10.98.0.1 dev eth0", Shell.IpIn(pod.Name, "route", "show"));
        Assert.False(HasLink(host.Name, "ul0"));
        Assert.Single(Leases());

        if (CniVersion.AtLeast(version, "0.4.0"))
        {
            CniExec.Run(Env("CHECK", pod), HostLocal(version, $",\"prevResult\":{added.Stdout}"), host.Name).EnsureSuccess();
        }

        CniExec.Run(Env("DEL", pod), HostLocal(version, $",\"prevResult\":{added.Stdout}"), host.Name).EnsureSuccess();
        Assert.True(HasLink(host.Name, "ul0"), "the device is back on the host under its own name");
        Assert.False(HasLink(pod.Name, "eth0"));
        Assert.Empty(Leases());
    }

    /// <summary>
    /// A whole ADD (a device moved, host-local run, the record written) and its DEL open no shared
    /// library, not even at start: the plugin is a static executable, and one must never load a
    /// library (it brings its own libc.so, whose thread-local storage overwrites the runtime's; see
    /// src/Plugin/Native/no-shared-libraries.c). OpenSSL was the library that got loaded: the ADD's
    /// random mark once came from RandomNumberGenerator, and System.Text.Json's duplicate-key check
    /// seeds a hash set from it past 16 keys, so the config carries an object of 40 keys.
    /// strace -ff writes one file per thread or child; the children (host-local) are the files with
    /// an execve of theirs.
    /// </summary>
    [PrivilegedFact("ip", "strace")]
    public void ADD_and_DEL_open_no_shared_library()
    {
        Privileged.Require("ip", "strace");
        CniExec.RequireBuilt();
        var (host, pod) = HostAndPod();
        var traces = Directory.CreateDirectory(Path.Combine(_dataDir.FullName, "strace"));
        var wrapper = Path.Combine(_dataDir.FullName, "fathom-straced");
        File.WriteAllText(wrapper, $"#!/bin/sh\nexec strace -ff -qq -e trace=execve,openat,open -o {traces.FullName}/t \"{CniExec.Fathom}\"\n");
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        var labels = $",\"labels\":{{{string.Join(",", Enumerable.Range(0, 40).Select(i => $"\"k{i}\":\"v\""))}}}";
        var added = CniExec.Run(host.Name, wrapper, Env("ADD", pod), HostLocal("1.1.0", labels)).EnsureSuccess();
        CniExec.Run(host.Name, wrapper, Env("DEL", pod), HostLocal("1.1.0", $"{labels},\"prevResult\":{added.Stdout}")).EnsureSuccess();

        var plugin = Directory.GetFiles(traces.FullName)
            .Select(File.ReadAllText)
            .Where(t => !t.Contains("execve(\"/usr/lib/cni/", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(plugin);
        Assert.Contains(plugin, t => t.Contains("openat(", StringComparison.Ordinal)); // the trace saw the plugin's opens
        foreach (var trace in plugin)
            Assert.DoesNotMatch(@"\.so\b|openssl\.cnf", trace);
    }

    [PrivilegedTheory("ip")]
    [MemberData(nameof(UnderlayConfigs.AllVersions), MemberType = typeof(UnderlayConfigs))]
    public void A_refused_ADD_releases_the_lease_and_leaves_the_device_on_the_host(string version)
    {
        Privileged.Require("ip");
        var (host, pod) = HostAndPod();
        Shell.IpIn(pod.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");

        var output = CniExec.Run(Env("ADD", pod), HostLocal(version), host.Name);
        Assert.Equal(103, output.ErrorCode);
        Assert.Contains("eth0", (string)output.Body["msg"]!);
        Assert.Equal(version, (string)output.Body["cniVersion"]!);
        Assert.True(HasLink(host.Name, "ul0"));
        Assert.Empty(Leases());
    }

    [PrivilegedFact("ip")]
    public void DEL_after_the_netns_is_gone_still_releases_the_lease()
    {
        Privileged.Require("ip");
        var (host, pod) = HostAndPod();
        CniExec.Run(Env("ADD", pod), HostLocal("1.0.0"), host.Name).EnsureSuccess();
        Assert.Single(Leases());

        // The runtime lost the pod's netns. (A veth dies with it; a physical NIC would return to the root netns.)
        Shell.Ip("netns", "del", pod.Name);
        CniExec.Run(Env("DEL", pod), HostLocal("1.0.0"), host.Name).EnsureSuccess();
        Assert.Empty(Leases());

        var noNetns = Env("DEL", pod);
        noNetns.Remove("CNI_NETNS");
        CniExec.Run(noNetns, HostLocal("1.0.0"), host.Name).EnsureSuccess();
    }

    [PrivilegedTheory("ip")]
    [MemberData(nameof(UnderlayConfigs.AllVersions), MemberType = typeof(UnderlayConfigs))]
    public void ADD_with_static_ipam_sets_both_families(string version)
    {
        Privileged.Require("ip");
        var (host, pod) = HostAndPod();
        var config = $$$"""
            {"cniVersion":"{{{version}}}","name":"staticnet","type":"fathom","device":"ul0","dataDir":"{{{Records}}}",
             "ipam":{"type":"static",
                     "addresses":[{"address":"10.97.0.5/24","gateway":"10.97.0.1"},{"address":"fd97::5/64"}],
                     "routes":[{"dst":"0.0.0.0/0"}]}
            }
            """;
        var added = CniExec.Run(Env("ADD", pod, "net1"), config, host.Name).EnsureSuccess();
        Assert.Equal(["10.97.0.5/24", "fd97::5/64"], added.Body["ips"]!.AsArray().Select(i => (string)i!["address"]!));
        var kernel = AddressesOf(pod.Name, "net1").Select(a => $"{a!["local"]}/{a["prefixlen"]}").ToList();
        Assert.Contains("10.97.0.5/24", kernel);
        Assert.Contains("fd97::5/64", kernel);
        CniExec.Run(Env("DEL", pod, "net1"), config, host.Name).EnsureSuccess();
        Assert.True(HasLink(host.Name, "ul0"));
    }
}
