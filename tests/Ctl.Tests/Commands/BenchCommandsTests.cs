namespace Fathom.Ctl.Tests.Commands;

/// <summary>The parse of <c>bench netlink|cni</c>.</summary>
public sealed class BenchCommandsTests
{
    [Fact]
    public void NetlinkTakesCyclesAndANetns()
    {
        var parse = CtlRun.Parse("bench", "netlink");
        Assert.Empty(parse.Errors);
        Assert.Equal((500, null), (parse.GetValue(BenchNetlinkCommand.Cycles), parse.GetValue(BenchNetlinkCommand.PodNetns)));

        parse = CtlRun.Parse("bench", "netlink", "--cycles", "20", "--netns", "mypod");
        Assert.Empty(parse.Errors);
        Assert.Equal((20, "mypod"), (parse.GetValue(BenchNetlinkCommand.Cycles), parse.GetValue(BenchNetlinkCommand.PodNetns)));
    }

    [Fact]
    public void CniTakesCyclesAndThePlugins()
    {
        var parse = CtlRun.Parse("bench", "cni");
        Assert.Empty(parse.Errors);
        Assert.Equal(200, parse.GetValue(BenchCniCommand.Cycles));
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "fathom"), BenchCniCommand.PluginPath(parse));
        Assert.Equal("/usr/lib/cni/host-device", BenchCniCommand.ReferencePath(parse));

        parse = CtlRun.Parse("bench", "cni", "--cycles", "3", "--plugin", "artifacts/bin/fathom", "--reference", "/opt/cni/bin/host-device");
        Assert.Empty(parse.Errors);
        Assert.Equal(3, parse.GetValue(BenchCniCommand.Cycles));
        Assert.Equal(Path.GetFullPath("artifacts/bin/fathom"), BenchCniCommand.PluginPath(parse));
        Assert.Equal("/opt/cni/bin/host-device", BenchCniCommand.ReferencePath(parse));
    }
}
