using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Underlay;

/// <summary>
/// Delegated IPAM that needs the device already in the pod: Debian's reference <c>dhcp</c> IPAM
/// plugin, whose daemon runs the DHCP client on CNI_IFNAME inside CNI_NETNS, against a dnsmasq
/// on the peer that reserves the device's MAC — the seed article's `dhclient eth0`, done by the
/// runtime's CNI call. Also: any IPAM plugin runs with the device already in the pod, and an
/// allocation that fails after the move returns the device.
/// </summary>
public sealed class DhcpIpamTests
{
    private const string Reserved = "10.10.0.7";

    [PrivilegedFact("ip", "dnsmasq", "busybox")]
    public void ADD_leases_the_address_over_the_moved_device_and_DEL_returns_it()
    {
        Privileged.Require("ip", "dnsmasq", "busybox");
        Assert.True(File.Exists(Path.Combine(CniPlugins.ReferenceDir, "dhcp")), "the reference dhcp plugin (containernetworking-plugins) is missing");
        var bed = UnderlayBed.Create();
        var dir = Directory.CreateTempSubdirectory("fathom-ul-dhcp-");
        try
        {
            // Both processes live in the bed's namespaces, which kill what is left in them on dispose.
            StartDnsmasq(bed, dir.FullName);
            var socket = Path.Combine(dir.FullName, "dhcp.sock");
            Background(bed.Host.Name, Path.Combine(dir.FullName, "dhcp.log"), Path.Combine(CniPlugins.ReferenceDir, "dhcp"), "daemon", "-socketpath", socket,
                "-pidfile", Path.Combine(dir.FullName, "dhcp.pid"), "-timeout", "5s", "-resendmax", "10s");
            Eventually.True(() => File.Exists(socket), "the dhcp daemon's socket");

            var config = UnderlayConfigs.Build("1.0.0");
            config["ipam"] = new JsonObject { ["type"] = "dhcp", ["daemonSocketPath"] = socket };
            var add = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, bed.Call("ADD", CniPlugins.ReferenceDir), config).Result;

            var ip = Assert.Single(add["ips"]!.AsArray())!;
            Assert.Equal(Reserved + "/24", (string?)ip["address"]);
            Assert.Equal(UnderlayBed.Gateway, (string?)ip["gateway"]);
            var addresses = Shell.IpIn(bed.Pod.Name, "-j", "-4", "addr", "show", "dev", "eth0");
            Assert.Contains($"\"local\":\"{Reserved}\"", addresses);
            Assert.Equal(UnderlayBed.DeviceMac, (string?)add["interfaces"]![0]!["mac"]);
            Shell.Exec(bed.Pod.Name, "busybox", "ping", "-c", "1", "-W", "2", UnderlayBed.Gateway).EnsureSuccess("ping the DHCP server's side from the pod");

            CniExec.Run(bed.Host.Name, CniPlugins.Fathom, bed.Call("DEL", CniPlugins.ReferenceDir), UnderlayConfigs.WithPrevResult(config, add)).EnsureSuccess();
            Assert.True(HasLink(bed.Host.Name, UnderlayBed.Device), "the device is back on the host under its own name");
            Assert.False(HasLink(bed.Pod.Name, "eth0"));
        }
        finally
        {
            bed.Dispose(); // first: stops the daemon and dnsmasq before their folder goes
            dir.Delete(recursive: true);
        }
    }

    [PrivilegedFact("ip")]
    public void An_allocation_that_fails_after_the_move_leaves_the_device_on_the_host()
    {
        Privileged.Require("ip");
        using var bed = UnderlayBed.Create();
        var config = UnderlayConfigs.Build("1.0.0");
        // No daemon listens on this socket: the dhcp plugin fails once fathom has moved the device in.
        config["ipam"] = new JsonObject { ["type"] = "dhcp", ["daemonSocketPath"] = "/run/fathom-test-no-such-dhcp.sock" };
        var add = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, bed.Call("ADD", CniPlugins.ReferenceDir), config);
        Assert.Equal(106, add.ErrorCode);
        Assert.Contains("plugin \"dhcp\" failed ADD", add.ErrorMessage);
        Assert.Contains($"host device \"{UnderlayBed.Device}\" is back on the host", add.ErrorMessage);
        var host = JsonDocument.Parse(Shell.IpIn(bed.Host.Name, "-j", "link", "show", "dev", UnderlayBed.Device)).RootElement[0];
        Assert.Equal(UnderlayBed.DeviceMac, host.GetProperty("address").GetString());
        Assert.Contains("UP", host.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.False(HasLink(bed.Pod.Name, "eth0"));
    }

    [PrivilegedFact("ip", "nsenter")]
    public void The_ipam_plugin_runs_with_the_device_already_in_the_pod()
    {
        Privileged.Require("ip", "nsenter");
        var bed = UnderlayBed.Create();
        var bin = Directory.CreateTempSubdirectory("fathom-ul-ipam-");
        try
        {
            // An IPAM plugin that allocates only when CNI_IFNAME is in CNI_NETNS, as dhcp needs it.
            var plugin = Path.Combine(bin.FullName, "in-pod-ipam");
            File.WriteAllText(plugin, """
                #!/bin/sh
                cat >/dev/null
                [ "$CNI_COMMAND" = ADD ] || exit 0
                if nsenter --net="$CNI_NETNS" ip link show "$CNI_IFNAME" >/dev/null 2>&1; then
                  echo '{"cniVersion":"1.0.0","ips":[{"address":"10.10.0.9/24"}]}'
                else
                  echo '{"cniVersion":"1.0.0","code":11,"msg":"the interface is not in the pod yet"}'; exit 1
                fi

                """.Replace("\r", ""));
            File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var config = UnderlayConfigs.Build("1.0.0");
            config["ipam"] = new JsonObject { ["type"] = "in-pod-ipam" };
            var add = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, bed.Call("ADD", $"{bin.FullName}:{CniPlugins.ReferenceDir}"), config).Result;
            Assert.Equal("10.10.0.9/24", (string?)add["ips"]![0]!["address"]);
            Assert.Contains("\"local\":\"10.10.0.9\"", Shell.IpIn(bed.Pod.Name, "-j", "-4", "addr", "show", "dev", "eth0"));
        }
        finally
        {
            bed.Dispose();
            bin.Delete(recursive: true);
        }
    }

    private static bool HasLink(string netns, string name) => Shell.Run("ip", ["-n", netns, "link", "show", "dev", name]).ExitCode == 0;

    private static void StartDnsmasq(UnderlayBed bed, string dir) =>
        Background(bed.Peer.Name, Path.Combine(dir, "dnsmasq.out"), "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            "--interface=peer0", "--bind-interfaces", "--except-interface=lo",
            "--dhcp-range=10.10.0.0,static,255.255.255.0,1h", $"--dhcp-host={UnderlayBed.DeviceMac},{Reserved}",
            $"--dhcp-option=option:router,{UnderlayBed.Gateway}", $"--dhcp-leasefile={dir}/leases",
            $"--pid-file={dir}/dnsmasq.pid", $"--log-facility={dir}/dnsmasq.log", "--user=root");

    // A long-running process in a test namespace, its output in a log file beside the test's
    // other files: a pipe closed under it would kill a Go program at its next log line (SIGPIPE
    // on fd 1 or 2). The namespace's dispose kills it.
    private static void Background(string netns, string log, string file, params string[] args)
    {
        var psi = new ProcessStartInfo("sh") { UseShellExecute = false };
        foreach (var a in (string[])["-c", "exec \"$@\" >\"$LOG\" 2>&1", "sh", "ip", "netns", "exec", netns, file, .. args]) psi.ArgumentList.Add(a);
        psi.Environment["LOG"] = log;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        if (process.WaitForExit(200))
            throw new InvalidOperationException($"{file} exited at once with {process.ExitCode}: {File.ReadAllText(log)}");
    }

}
