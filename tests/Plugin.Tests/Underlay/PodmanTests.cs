using System.Text.Json.Nodes;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Underlay;

/// <summary>
/// A real runtime: podman 4 with its CNI network backend runs a busybox container on a Fathom
/// underlay network. podman runs inside the test's host netns (so the plugin's "host" is that
/// namespace), a <see cref="PodmanHome"/> with its own storage, run and temp directories and its own
/// containers.conf, so the machine's podman state is untouched. podman makes and removes the container's netns.
/// </summary>
public sealed class PodmanTests
{
    [PrivilegedFact("ip", "podman", "runc", "nsenter", "busybox")]
    public void ContainerGetsTheDeviceAsEth0AndRmReturnsIt()
    {
        Privileged.Require("ip", "podman", "runc", "nsenter", "busybox");
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        using var home = new PodmanHome(TestNetns.Prefix + "ul-podman-", bin.Path);
        var network = new JsonObject
        {
            // podman 4.3 vendors libcni 1.1: it speaks up to spec 1.0.0.
            ["cniVersion"] = "1.0.0",
            ["name"] = "fathom-ul",
            ["plugins"] = new JsonArray(UnderlayConfigs.ListEntry(UnderlayConfigs.Build("1.0.0", staticIpam: true))),
        };
        home.AddNetwork(network);
        var name = "fathom-ul-" + bed.Pod.Name[^8..];
        try
        {
            home.RunSleeping(bed.Host.Path, name, "fathom-ul");

            // Inside: the device is eth0, with its MAC and address, and reaches the peer namespace.
            var addr = home.Exec(bed.Host.Path, name, "/bin/ip", "addr", "show", "eth0").EnsureSuccess("podman exec ip addr").Stdout;
            Assert.Contains(UnderlayBed.DeviceMac, addr);
            Assert.Contains("inet " + UnderlayBed.PodAddress, addr);
            Assert.Contains("mtu " + UnderlayBed.DeviceMtu, addr);
            home.Exec(bed.Host.Path, name, "/bin/ping", "-c", "1", "-W", "2", UnderlayBed.Gateway).EnsureSuccess("ping the peer from the container");
            var route = home.Exec(bed.Host.Path, name, "/bin/ip", "route").EnsureSuccess("podman exec ip route").Stdout;
            Assert.Contains($"default via {UnderlayBed.Gateway} dev eth0", route);
            Assert.Null(KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device));
        }
        finally
        {
            home.Remove(bed.Host.Path, name);
        }

        // podman rm ran the plugin's DEL: the device is back on the host under its own name.
        var back = KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device);
        Assert.NotNull(back);
        Assert.Equal(UnderlayBed.DeviceMac, back.Mac);
        Assert.Equal(UnderlayBed.DeviceMtu, back.Mtu);
    }
}
