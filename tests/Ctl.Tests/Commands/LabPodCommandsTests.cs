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
