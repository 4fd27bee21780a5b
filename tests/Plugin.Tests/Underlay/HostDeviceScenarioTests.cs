using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Underlay;

/// <summary>
/// The reference host-device plugin's own scenarios, re-expressed for <c>fathom</c> in underlay
/// mode and run for every spec version, by executing the AOT binary as a runtime does, in fresh
/// namespaces (host, pod, peer). Kernel state is read back with iproute2.
/// </summary>
public sealed class HostDeviceScenarioTests
{
    public static TheoryData<string> Versions => UnderlayConfigs.AllVersions();

    private static void Run(string version, Action<Scenario> scenario)
    {
        Privileged.Require("ip");
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        var s = new Scenario(bed, bin.Path, CniPlugins.Fathom, "fathom", version);
        scenario(s);
    }

    private static void AssertInPod(Step step, string ifName, bool withAddress)
    {
        var link = step.Pod!.Link(ifName);
        Assert.NotNull(link);
        Assert.Equal(UnderlayBed.DeviceMac, link.Mac);
        Assert.Equal(UnderlayBed.DeviceMtu, link.Mtu);
        Assert.True(link.Up, $"{ifName} should be up in the pod: {step.Pod}");
        Assert.Equal(UnderlayBed.Device, link.Alias); // the original name, kept on the device itself
        Assert.Null(step.Host.Link(UnderlayBed.Device));
        if (withAddress)
        {
            Assert.Equal(UnderlayBed.PodAddress, link.Addresses);
            Assert.Contains($"default via {UnderlayBed.Gateway} dev {ifName}", step.Pod.Routes);
        }
    }

    private static void AssertBackOnHost(Step step, string ifName = "eth0")
    {
        var link = step.Host.Link(UnderlayBed.Device);
        Assert.NotNull(link);
        Assert.Equal(UnderlayBed.DeviceMac, link.Mac);
        Assert.Equal(UnderlayBed.DeviceMtu, link.Mtu);
        Assert.False(link.Up); // as host-device: returned down, for the pool to reconfigure
        Assert.Null(step.Pod?.Link(ifName));
    }

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void ValidConfigWithoutIpam(string version) => Run(version, s =>
    {
        s.WithoutIpam();
        var add = s["ADD eth0"];
        var result = add.Outcome.Result;
        var iface = Assert.Single(result["interfaces"]!.AsArray())!;
        Assert.Equal("eth0", (string?)iface["name"]);
        Assert.Equal(UnderlayBed.DeviceMac, (string?)iface["mac"]);
        Assert.Equal(s.Bed.Pod.Path, (string?)iface["sandbox"]);
        Assert.Equal(version, (string?)result["cniVersion"]);
        AssertInPod(add, "eth0", withAddress: false);
        if (s.HasCheck) s["CHECK eth0"].Outcome.EnsureSuccess();
        var del = s["DEL eth0"];
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del);
    });

    [PrivilegedTheory("ip", "busybox")]
    [MemberData(nameof(Versions))]
    public void ValidConfigWithStaticIpam(string version) => Run(version, s =>
    {
        var config = s.Config(staticIpam: true);
        var add = s.Add(config);
        var result = add.Outcome.Result;
        var ip = Assert.Single(result["ips"]!.AsArray())!;
        Assert.Equal(UnderlayBed.PodAddress, (string?)ip["address"]);
        Assert.Equal(UnderlayBed.Gateway, (string?)ip["gateway"]);
        Assert.Equal(0, (int?)ip["interface"]);
        if (version.StartsWith("0.", StringComparison.Ordinal))
            Assert.Equal("4", (string?)ip["version"]); // 0.3.x and 0.4.0 results carry ips[].version
        else
            Assert.Null(ip["version"]);
        AssertInPod(add, "eth0", withAddress: true);

        // The device really is the pod's: it reaches the peer (the rest of the "subnet") through it.
        Shell.Exec(s.Bed.Pod.Name, "busybox", "ping", "-c", "1", "-W", "2", UnderlayBed.Gateway).EnsureSuccess("ping the peer from the pod");

        if (s.HasCheck)
        {
            s.Check(config, result).Outcome.EnsureSuccess();
            // Drift: the address goes away; CHECK must fail and say which.
            Shell.IpIn(s.Bed.Pod.Name, "addr", "del", UnderlayBed.PodAddress, "dev", "eth0");
            var drifted = s.Check(config, result).Outcome;
            Assert.False(drifted.Succeeded);
            Assert.Contains("10.10.0.1", drifted.ErrorMessage);
        }
        var del = s.Del(config, result);
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del);
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void ConfigWithoutDeviceAsksTheAgentAndTouchesNothingWithoutOne(string version) => Run(version, s =>
    {
        // host-device refuses a config naming no device; fathom's underlay then gets the pod's ENI
        // from fathom-agent (docs/modes.md), and with none on this node that is 11, naming it.
        s.InvalidConfig();
        var outcome = s["ADD eth0"].Outcome;
        Assert.False(outcome.Succeeded);
        Assert.Equal(11, outcome.ErrorCode);
        Assert.Contains("fathom-agent is not running", outcome.ErrorMessage);
        Assert.NotNull(s["ADD eth0"].Host.Link(UnderlayBed.Device)); // nothing touched
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void DelIsIdempotentAndSurvivesAHostNameConflict(string version) => Run(version, s =>
    {
        s.DelIdempotentWithNameConflict();
        AssertInPod(s["ADD eth0"], "eth0", withAddress: true);

        // The host has a new ul0: the device cannot go back. DEL fails, says why, and leaves
        // the pod's device exactly as it was (up, addressed), so a later DEL can finish the job.
        var blocked = s["DEL eth0 (host name taken)"];
        Assert.False(blocked.Outcome.Succeeded);
        Assert.Equal(101, blocked.Outcome.ErrorCode); // DeviceBusy
        Assert.Contains(UnderlayBed.Device, blocked.Outcome.ErrorMessage);
        var stillThere = blocked.Pod!.Link("eth0");
        Assert.NotNull(stillThere);
        Assert.True(stillThere.Up);
        Assert.Equal(UnderlayBed.PodAddress, stillThere.Addresses);

        var done = s["DEL eth0 (conflict gone)"];
        done.Outcome.EnsureSuccess();
        AssertBackOnHost(done);
        s["DEL eth0 (again)"].Outcome.EnsureSuccess();
        s["DEL eth0 (no netns)"].Outcome.EnsureSuccess();
        Assert.Equal(done.Host, s["DEL eth0 (no netns)"].Host);
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void IfNameTakenInPodIsRefusedAndTheDeviceStaysOnTheHost(string version) => Run(version, s =>
    {
        var before = KernelState.Read(s.Bed.Host.Name);
        s.IfNameTakenInPod();

        var refused = s["ADD eth0"];
        Assert.False(refused.Outcome.Succeeded);
        Assert.Equal(103, refused.Outcome.ErrorCode); // IfNameExists
        Assert.Contains("eth0", refused.Outcome.ErrorMessage);
        Assert.Contains(UnderlayBed.Device, refused.Outcome.ErrorMessage); // says where the device is
        Assert.Equal(before, refused.Host); // nothing moved, nothing renamed

        var added = s["ADD net1"];
        AssertInPod(added, "net1", withAddress: true);
        var eth0 = added.Pod!.Link("eth0")!;
        Assert.Equal("192.168.77.1/24", eth0.Addresses);

        var del = s["DEL net1"];
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del, "net1");
        Assert.Equal(eth0, del.Pod!.Link("eth0")); // eth0 untouched
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void DelAfterARefusedAddSucceedsAndLeavesThePodsOwnInterface(string version) => Run(version, s =>
    {
        // A runtime DELs an attachment whose ADD failed (CNI spec §ADD: "the runtime should call
        // DEL"), without a prevResult. The pod's eth0 is its own (no alias): nothing to undo, and
        // a refusal would fail the pod's teardown on every retry.
        s.IfNameTakenInPod();
        var eth0 = s["ADD eth0"].Pod!.Link("eth0");
        var del = s.Del(s.Config(staticIpam: true), addResult: null, ifName: "eth0");
        del.Outcome.EnsureSuccess();
        Assert.Equal(eth0, del.Pod!.Link("eth0"));
        Assert.NotNull(del.Host.Link(UnderlayBed.Device));
    });

    [PrivilegedFact("ip")]
    public void DelRefusesOurDeviceWhoseAliasWasClearedUntilItIsSetAgain() => Run("1.1.0", s =>
    {
        var config = s.Config(staticIpam: true);
        var result = s.Add(config).Outcome.Result;
        Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "alias", "");
        // The result's MAC says the device is fathom's, but its host name is unknown: refuse, touch nothing.
        var refused = s.Del(config, result, label: " (alias cleared)");
        Assert.Equal(101, refused.Outcome.ErrorCode); // DeviceBusy
        Assert.Contains("no alias", refused.Outcome.ErrorMessage);
        Assert.True(refused.Pod!.Link("eth0")!.Up);
        Assert.Null(refused.Host.Link(UnderlayBed.Device));

        Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "alias", UnderlayBed.Device);
        var del = s.Del(config, result);
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del);
    });

    [PrivilegedFact("ip")]
    public void AMoveTheKernelRefusesLeavesTheDeviceOnTheHostAsItWas() => Run("1.1.0", s =>
    {
        // A bridge is netns-local (NETIF_F_NETNS_LOCAL): the kernel refuses to move it (EINVAL)
        // after fathom has written its alias, so this is the rollback that finds the device still
        // on the host and must undo that alias.
        Shell.IpIn(s.Bed.Host.Name, "link", "add", "brul0", "address", "02:f0:0d:00:00:b1", "type", "bridge");
        Shell.IpIn(s.Bed.Host.Name, "link", "set", "brul0", "up");
        var before = KernelState.Read(s.Bed.Host.Name);
        var add = s.Add(s.Config(device: "brul0"));
        Assert.Equal(104, add.Outcome.ErrorCode); // DatapathFailure
        Assert.Contains("on the host as it was", add.Outcome.ErrorMessage);
        Assert.Equal(before, add.Host); // same name, MAC, MTU, still up, and still no alias
        Assert.Null(add.Pod!.Link("eth0"));
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void DelSucceedsAfterTheNetnsIsGone(string version) => Run(version, s =>
    {
        s.DelAfterNetnsGone();
        s["ADD eth0"].Outcome.EnsureSuccess();
        s["DEL eth0 (netns gone)"].Outcome.EnsureSuccess();
    });

    [PrivilegedFact("ip")]
    public void DelSucceedsWhenTheNetnsPathIsLeftWithoutANamespace() => Run("1.1.0", s =>
    {
        // A runtime that unmounted the pod's netns but left its file behind (or crashed between
        // the two): the path holds no namespace, so no device of ours. DEL must not fail forever.
        var config = s.Config(staticIpam: true);
        var result = s.Add(config).Outcome.Result;
        var stale = Path.GetTempFileName();
        try
        {
            var del = s.Run("DEL eth0 (stale netns file)", s.Bed.Call("DEL", s.CniPath) with { NetnsPath = stale },
                UnderlayConfigs.WithPrevResult(config, result));
            del.Outcome.EnsureSuccess();
        }
        finally
        {
            File.Delete(stale);
        }
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void DeviceSelectedByHwAddr(string version) => Run(version, s =>
    {
        s.ByHwAddr();
        AssertInPod(s["ADD eth0"], "eth0", withAddress: true);
        AssertBackOnHost(s["DEL eth0"]);
    });

    [PrivilegedTheory("ip")]
    [MemberData(nameof(Versions))]
    public void FailureAfterTheMoveReturnsTheDeviceToTheHostAsItWas(string version) => Run(version, s =>
    {
        var before = KernelState.Read(s.Bed.Host.Name);
        // The IPAM result carries a route whose gateway is on no subnet of the pod: the kernel
        // refuses it (ENETUNREACH) after the device is already in the pod, addressed and up.
        var config = s.Config(staticIpam: true);
        config["ipam"]!["routes"] = new System.Text.Json.Nodes.JsonArray(
            new System.Text.Json.Nodes.JsonObject { ["dst"] = "192.168.100.0/24", ["gw"] = "172.16.0.1" });
        var add = s.Add(config);
        Assert.False(add.Outcome.Succeeded);
        Assert.Contains("192.168.100.0/24", add.Outcome.ErrorMessage);
        Assert.Contains("back on the host", add.Outcome.ErrorMessage);
        Assert.Equal(before, add.Host); // same name, MAC, MTU, no alias, still up
        Assert.Null(add.Pod!.Link("eth0"));
    });

    [PrivilegedFact("ip")]
    public void DelRestoresTheMtuTheResultRecorded()
    {
        Run("1.1.0", s =>
        {
            var config = s.Config(staticIpam: true);
            var add = s.Add(config);
            Assert.Equal(UnderlayBed.DeviceMtu, (int?)add.Outcome.Result["interfaces"]![0]!["mtu"]); // 1.1.0 results carry it
            Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "mtu", "1280"); // something in the pod changed it
            var del = s.Del(config, add.Outcome.Result);
            del.Outcome.EnsureSuccess();
            Assert.Equal(UnderlayBed.DeviceMtu, del.Host.Link(UnderlayBed.Device)!.Mtu);
        });
    }

    [PrivilegedFact("ip")]
    public void DelFindsADeviceRenamedInThePodByTheResultsMac() => Run("1.0.0", s =>
    {
        var config = s.Config(staticIpam: true);
        var result = s.Add(config).Outcome.Result;
        Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "down");
        Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "name", "renamed0");
        var del = s.Del(config, result);
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del);
        Assert.Null(del.Pod!.Link("renamed0"));
    });

    [PrivilegedFact("ip")]
    public void DelRetriedAfterAKillBetweenRenameAndMoveFindsTheDevice() => Run("1.1.0", s =>
    {
        // What a DEL killed after renaming the device in the pod (down, host name) leaves behind.
        var config = s.Config(staticIpam: true);
        var result = s.Add(config).Outcome.Result;
        Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "down");
        Shell.IpIn(s.Bed.Pod.Name, "link", "set", "eth0", "name", UnderlayBed.Device);
        var del = s.Del(config, result);
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del);
        Assert.Null(del.Pod!.Link(UnderlayBed.Device));
    });

    [PrivilegedFact("ip")]
    public void DeviceWhoseNameIsTakenInThePodStillArrivesUnderIfName() => Run("1.1.0", s =>
    {
        // The pod already has a "ul0" of its own: the one-request move+rename must take the new
        // name as it enters (the kernel's dev_change_net_namespace pattern), and DEL must bring the
        // device home through the transit netns since it cannot be renamed "ul0" in the pod.
        Shell.IpIn(s.Bed.Pod.Name, "link", "add", UnderlayBed.Device, "type", "veth", "peer", "name", "ul0peer");
        var config = s.Config(staticIpam: true);
        var add = s.Add(config);
        var result = add.Outcome.Result;
        AssertInPod(add, "eth0", withAddress: true);
        Assert.NotEqual(UnderlayBed.DeviceMac, add.Pod!.Link(UnderlayBed.Device)?.Mac);   // the pod's own ul0, untouched

        var del = s.Del(config, result);
        del.Outcome.EnsureSuccess();
        AssertBackOnHost(del);
        Assert.NotNull(del.Pod!.Link(UnderlayBed.Device));
        Assert.NotEqual(UnderlayBed.DeviceMac, del.Pod.Link(UnderlayBed.Device)!.Mac);
    });

    [PrivilegedFact("ip")]
    public void CheckNamesAMissingRoute() => Run("1.1.0", s =>
    {
        var config = s.Config(staticIpam: true);
        var result = s.Add(config).Outcome.Result;
        Shell.IpIn(s.Bed.Pod.Name, "route", "del", "default");
        var check = s.Check(config, result).Outcome;
        Assert.Equal(107, check.ErrorCode); // CheckFailed
        Assert.Contains("route 0.0.0.0/0 via 10.10.0.254", check.ErrorMessage);
        s.Del(config, result).Outcome.EnsureSuccess();
    });

    [PrivilegedFact("ip")]
    public void MissingDeviceIsReportedByName() => Run("1.1.0", s =>
    {
        var outcome = s.Add(s.Config(device: "nosuch0")).Outcome;
        Assert.Equal(100, outcome.ErrorCode); // DeviceNotFound
        Assert.Contains("nosuch0", outcome.ErrorMessage);
    });

    [PrivilegedFact("ip")]
    public void KernelPathOutsideSysDevicesIsRefused() => Run("1.1.0", s =>
    {
        var outcome = s.Add(s.Config(device: null, kernelpath: "/tmp/not-a-device")).Outcome;
        Assert.Equal(7, outcome.ErrorCode);
        Assert.Contains("/sys/devices/", outcome.ErrorMessage);
    });

    [PrivilegedFact("ip")]
    public void KernelPathWithoutNetDevicesIsDeviceNotFound() => Run("1.1.0", s =>
    {
        // A real device directory (the virtual bus) that carries no network device of this netns.
        var outcome = s.Add(s.Config(device: null, kernelpath: "/sys/devices/system/cpu")).Outcome;
        Assert.Equal(100, outcome.ErrorCode);
        Assert.Contains("/sys/devices/system/cpu", outcome.ErrorMessage);
    });
}
