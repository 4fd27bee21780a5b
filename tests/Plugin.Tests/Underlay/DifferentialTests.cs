using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Underlay;

/// <summary>
/// The same scenarios through Debian's reference <c>/usr/lib/cni/host-device</c> (1.1.1) and through
/// <c>fathom</c>, each in its own identical bed; results and kernel state after every step are
/// compared field by field. Where Fathom deliberately differs, the test names the difference and
/// asserts Fathom's behaviour instead of the reference's.
/// </summary>
public sealed class DifferentialTests
{
    public static TheoryData<string> Versions => UnderlayConfigs.SharedVersions();

    /// <summary>Runs <paramref name="scenario"/> through both plugins; returns (reference, fathom) traces.</summary>
    private static void Compare(string version, Action<Scenario> scenario, Action<Scenario, Scenario> assert)
    {
        Privileged.Require("ip", CniPlugins.ReferenceHostDevice);
        using var bin = new CniBinDir();
        using var refBed = UnderlayBed.Create();
        using var fathomBed = UnderlayBed.Create();
        var reference = new Scenario(refBed, bin.Path, CniPlugins.ReferenceHostDevice, "host-device", version);
        var fathom = new Scenario(fathomBed, bin.Path, CniPlugins.Fathom, "fathom", version);
        scenario(reference);
        scenario(fathom);
        Assert.Equal(reference.Steps.Select(s => s.Name), fathom.Steps.Select(s => s.Name));
        assert(reference, fathom);
    }

    /// <summary>Same outcome (success, or failure), same normalized result, same host and pod state.</summary>
    private static void Same(Scenario reference, Scenario fathom, string step)
    {
        var r = reference[step];
        var f = fathom[step];
        Assert.True(r.Outcome.Succeeded == f.Outcome.Succeeded,
            $"{step}: reference {(r.Outcome.Succeeded ? "succeeded" : "failed: " + r.Outcome.Stdout)}, fathom {(f.Outcome.Succeeded ? "succeeded" : "failed: " + f.Outcome.Stdout)}");
        Assert.Equal(r.NormalizedResult(reference.Bed.Pod.Path), f.NormalizedResult(fathom.Bed.Pod.Path));
        Assert.Equal(r.Host, f.Host);
        Assert.Equal(r.Pod?.Links, f.Pod?.Links);
        Assert.Equal(r.Pod?.Routes, f.Pod?.Routes);
    }

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void WithoutIpam(string version) => Compare(version, s => s.WithoutIpam(), (r, f) =>
    {
        Same(r, f, "ADD eth0");
        if (f.HasCheck) Same(r, f, "CHECK eth0");
        Same(r, f, "DEL eth0");
    });

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void WithStaticIpam(string version) => Compare(version, s => s.WithStaticIpam(), (r, f) =>
    {
        Same(r, f, "ADD eth0");
        if (f.HasCheck) Same(r, f, "CHECK eth0");
        Same(r, f, "DEL eth0");
    });

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void InvalidConfig(string version) => Compare(version, s => s.InvalidConfig(), (r, f) =>
    {
        Same(r, f, "ADD eth0");
        // Both refuse and touch nothing. host-device says 999 (generic); a fathom underlay config
        // that names no device asks fathom-agent for the pod's ENI (docs/modes.md), and with no
        // agent on this node that is 11, try again later, naming the missing agent.
        Assert.Equal(11, f["ADD eth0"].Outcome.ErrorCode);
        Assert.Contains("fathom-agent is not running", f["ADD eth0"].Outcome.ErrorMessage);
        Assert.Contains("specify either \"device\", \"hwaddr\", \"kernelpath\"", r["ADD eth0"].Outcome.ErrorMessage);
    });

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void ByHwAddr(string version) => Compare(version, s => s.ByHwAddr(), (r, f) =>
    {
        Same(r, f, "ADD eth0");
        Same(r, f, "DEL eth0");
    });

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void DelIdempotentWithNameConflict(string version) => Compare(version, s => s.DelIdempotentWithNameConflict(), (r, f) =>
    {
        Same(r, f, "ADD eth0");

        // Both refuse to return the device while the host's name is taken and both keep it in
        // the pod as eth0, up, with its address. Deliberate difference: host-device 1.1.1 has
        // already set it down and up again (renaming it and back), which made the kernel drop
        // the pod's default route; fathom checks the host's names first and touches nothing.
        var rb = r["DEL eth0 (host name taken)"];
        var fb = f["DEL eth0 (host name taken)"];
        Assert.False(rb.Outcome.Succeeded);
        Assert.False(fb.Outcome.Succeeded);
        Assert.Equal(rb.Host, fb.Host);
        Assert.Equal(rb.Pod!.Links, fb.Pod!.Links);
        Assert.DoesNotContain($"default via {UnderlayBed.Gateway} dev eth0", rb.Pod.Routes);
        Assert.Equal(f["ADD eth0"].Pod!.Routes, fb.Pod.Routes);

        Same(r, f, "DEL eth0 (conflict gone)");

        // Deliberate difference: a repeated DEL fails in host-device 1.1.1 ("failed to find eth0"),
        // against the spec (DEL is idempotent); fathom succeeds and changes nothing.
        Assert.False(r["DEL eth0 (again)"].Outcome.Succeeded);
        Assert.Contains("eth0", r["DEL eth0 (again)"].Outcome.ErrorMessage);
        f["DEL eth0 (again)"].Outcome.EnsureSuccess();
        Assert.Equal(r["DEL eth0 (again)"].Host, f["DEL eth0 (again)"].Host);

        // Without CNI_NETNS both succeed (nothing to do).
        Same(r, f, "DEL eth0 (no netns)");
    });

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void IfNameTakenInPod(string version) => Compare(version, s => s.IfNameTakenInPod(), (r, f) =>
    {
        // Both refuse ADD eth0 when the pod already has eth0 (CNI spec: ADD fails if the ifname exists).
        var rr = r["ADD eth0"];
        var fr = f["ADD eth0"];
        Assert.False(rr.Outcome.Succeeded);
        Assert.False(fr.Outcome.Succeeded);

        // Deliberate difference: host-device 1.1.1 moves the device into the pod before renaming,
        // so the failed rename leaves it stranded there as "ul0" (lost to the host). Fathom checks
        // the pod first and the device never leaves the host.
        Assert.Null(rr.Host.Link(UnderlayBed.Device));
        Assert.NotNull(rr.Pod!.Link(UnderlayBed.Device));
        Assert.NotNull(fr.Host.Link(UnderlayBed.Device));
        Assert.Null(fr.Pod!.Link(UnderlayBed.Device));

        // Consequently the reference cannot add the device as net1 any more; fathom can, and
        // eth0 stays untouched through ADD and DEL.
        Assert.False(r["ADD net1"].Outcome.Succeeded);
        Assert.True(f["ADD net1"].Outcome.Succeeded);
        Assert.Equal(fr.Pod.Link("eth0"), f["DEL net1"].Pod!.Link("eth0"));
        Assert.NotNull(f["DEL net1"].Host.Link(UnderlayBed.Device));
    });

    [PrivilegedTheory("ip", "/usr/lib/cni/host-device")]
    [MemberData(nameof(Versions))]
    public void DelAfterNetnsGone(string version) => Compare(version, s => s.DelAfterNetnsGone(), (r, f) =>
    {
        Same(r, f, "ADD eth0");
        // Deliberate difference: host-device 1.1.1 fails ("failed to open netns"), which makes a
        // runtime retry DEL forever (kubernetes#43014); the spec says DEL must succeed. Fathom does.
        Assert.False(r["DEL eth0 (netns gone)"].Outcome.Succeeded);
        f["DEL eth0 (netns gone)"].Outcome.EnsureSuccess();
        Assert.Equal(r["DEL eth0 (netns gone)"].Host, f["DEL eth0 (netns gone)"].Host);
    });
}
