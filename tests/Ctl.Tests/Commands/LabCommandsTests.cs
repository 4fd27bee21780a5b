namespace Fathom.Ctl.Tests.Commands;

/// <summary>The parse of <c>lab down|status|env|attach|serve</c> into their options, in process: nothing runs.</summary>
public sealed class LabCommandsTests
{
    [Fact]
    public void StatusAndEnvTakeTheirFlags()
    {
        Assert.False(CtlRun.Parse("lab", "status").GetValue(LabCommands.Json));
        Assert.True(CtlRun.Parse("lab", "status", "--json").GetValue(LabCommands.Json));
        Assert.False(CtlRun.Parse("lab", "env").GetValue(LabCommands.InVpc));
        Assert.True(CtlRun.Parse("lab", "env", "--in-vpc").GetValue(LabCommands.InVpc));
    }

    [Fact]
    public void DownTakesNothing()
    {
        Assert.Empty(CtlRun.Parse("lab", "down").Errors);
        Assert.NotEmpty(CtlRun.Parse("lab", "down", "--json").Errors);
    }

    [Fact]
    public void AttachTakesANodeAndOptionallyASubnetAndSecondaryIps()
    {
        var parse = CtlRun.Parse("lab", "attach", "--node", "node2");
        Assert.Empty(parse.Errors);
        Assert.Equal("node2", parse.GetValue(LabCommands.AttachNode));
        Assert.Null(parse.GetValue(LabCommands.SubnetId));
        Assert.Equal(0, parse.GetValue(LabCommands.SecondaryIps));

        parse = CtlRun.Parse("lab", "attach", "--secondary-ips", "3", "--subnet-id", "subnet-0abc", "--node", "node1");
        Assert.Empty(parse.Errors);
        Assert.Equal(("node1", "subnet-0abc", 3), (parse.GetValue(LabCommands.AttachNode), parse.GetValue(LabCommands.SubnetId), parse.GetValue(LabCommands.SecondaryIps)));
    }

    [Fact]
    public void ServeTakesThePrefix()
    {
        var parse = CtlRun.Parse("lab", "serve", "--prefix", "ftlabc");
        Assert.Empty(parse.Errors);
        Assert.Equal("ftlabc", parse.GetValue(LabCommands.Prefix));
    }
}
