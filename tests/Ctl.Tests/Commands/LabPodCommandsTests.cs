using Fathom.Lab.Control;

namespace Fathom.Ctl.Tests.Commands;

/// <summary>The parse of <c>lab pod add|record|del</c>, as run.sh and the docs use them.</summary>
public sealed class LabPodCommandsTests
{
    [Fact]
    public void AddTakesANameANodeADeviceAndDhcp()
    {
        var parse = CtlRun.Parse("lab", "pod", "add", "web", "--node", "node1");
        Assert.Empty(parse.Errors);
        Assert.Equal(("web", "node1", null, false),
            (parse.GetValue(LabPodCommands.AddName), parse.GetValue(LabPodCommands.AddNode), parse.GetValue(LabPodCommands.Device), parse.GetValue(LabPodCommands.Dhcp)));

        parse = CtlRun.Parse("lab", "pod", "add", "--node", "node2", "--device", "eth2", "--dhcp", "db");
        Assert.Empty(parse.Errors);
        Assert.Equal(("db", "node2", "eth2", true),
            (parse.GetValue(LabPodCommands.AddName), parse.GetValue(LabPodCommands.AddNode), parse.GetValue(LabPodCommands.Device), parse.GetValue(LabPodCommands.Dhcp)));
    }

    [Fact]
    public void AddTakesAModeAndJson()
    {
        var parse = CtlRun.Parse("lab", "pod", "add", "web", "--node", "node1", "--mode", "underlay", "--json");
        Assert.Empty(parse.Errors);
        Assert.Equal(("web", "node1", "underlay", null, true),
            (parse.GetValue(LabPodCommands.AddName), parse.GetValue(LabPodCommands.AddNode), parse.GetValue(LabPodCommands.AddMode),
             parse.GetValue(LabPodCommands.Device), parse.GetValue(LabPodCommands.AddJson)));
    }

    [Theory]
    [InlineData("--mode", "macvlan", "--mode: 'macvlan' is not one of underlay, shared, host-gw, overlay")]
    [InlineData("--device", "eth1", "--device names an ENI for underlay only")]
    [InlineData("--dhcp", null, "--dhcp configures an ENI moved in by hand")]
    public void AddRefusesWhatTheModeCannotDoAsUsage(string flag, string? value, string message)
    {
        string[] args = flag == "--dhcp" ? ["lab", "pod", "add", "web", "--node", "node1", "--mode", "shared", "--dhcp"]
            : flag == "--device" ? ["lab", "pod", "add", "web", "--node", "node1", "--mode", "host-gw", "--device", value!]
            : ["lab", "pod", "add", "web", "--node", "node1", flag, value!];
        var result = CtlRun.InProcess(args);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(message, result.Stderr);
    }

    [Fact]
    public void ExecTakesTheCommandAfterDoubleDash()
    {
        var parse = CtlRun.Parse("lab", "pod", "exec", "web", "--", "sh", "-c", "exit 3");
        Assert.Empty(parse.Errors);
        Assert.Equal("web", parse.GetValue(LabPodCommands.ExecName));
        Assert.Equal(["sh", "-c", "exit 3"], parse.GetValue(LabPodCommands.ExecCommand)!);
        Assert.NotEmpty(CtlRun.Parse("lab", "pod", "exec", "web").Errors);
    }

    [Fact]
    public void AddJsonHasTheSixFields()
    {
        var json = LabPodCommands.PodJson(new LabPod("web", "flab-pod-web", "node1", "underlay", ["10.0.0.7"], "02:00:0a:00:00:07", "c0ffee", "/x.conflist"));
        Assert.Equal("""{"name":"web","node":"node1","mode":"underlay","ip":"10.0.0.7","mac":"02:00:0a:00:00:07","netns":"flab-pod-web"}""", json.ToJsonString());
    }

    [Fact]
    public void RecordTakesRepeatedIps()
    {
        // As run.sh records its pods.
        var parse = CtlRun.Parse("lab", "pod", "record", "p1", "--node", "node1", "--netns", "flab-pod-p1", "--mode", "underlay", "--ip", "10.0.0.7", "--ip", "10.0.0.8");
        Assert.Empty(parse.Errors);
        Assert.Equal("p1", parse.GetValue(LabPodCommands.RecordName));
        Assert.Equal("node1", parse.GetValue(LabPodCommands.RecordNode));
        Assert.Equal("underlay", parse.GetValue(LabPodCommands.Mode));
        Assert.Equal("flab-pod-p1", parse.GetValue(LabPodCommands.Netns));
        Assert.Equal(["10.0.0.7", "10.0.0.8"], parse.GetValue(LabPodCommands.Ips)!);

        parse = CtlRun.Parse("lab", "pod", "record", "p2", "--node", "node2", "--mode", "shared");
        Assert.Empty(parse.Errors);
        Assert.Null(parse.GetValue(LabPodCommands.Netns));
        Assert.Empty(parse.GetValue(LabPodCommands.Ips)!);
    }

    [Fact]
    public void DelTakesOneName()
    {
        var parse = CtlRun.Parse("lab", "pod", "del", "web");
        Assert.Empty(parse.Errors);
        Assert.Equal("web", parse.GetValue(LabPodCommands.DelName));
        Assert.NotEmpty(CtlRun.Parse("lab", "pod", "del").Errors);
        Assert.NotEmpty(CtlRun.Parse("lab", "pod", "del", "a", "b").Errors);
    }
}
