namespace Fathom.Ctl.Tests.Commands;

/// <summary><c>lab node add|rm</c> as the command line reads them (issue 10 §6); the nodes themselves are tested in a lab (LabSubnetModesTests).</summary>
public sealed class LabNodeCommandsTests
{
    [Fact]
    public void AddTakesANameAndAKnownTypeAndRmAName()
    {
        var parse = CtlRun.Parse("lab", "node", "add", "node3", "--type", "m5.large", "--json");
        Assert.Empty(parse.Errors);
        Assert.Equal("node3", parse.GetValue(LabNodeCommands.Name));
        Assert.Equal("m5.large", parse.GetValue(LabNodeCommands.Type));
        Assert.Null(CtlRun.Parse("lab", "node", "add", "node3").GetValue(LabNodeCommands.Type)); // the lab's type
        Assert.NotEmpty(CtlRun.Parse("lab", "node", "add").Errors);
        Assert.Contains("--type: unknown 'm9.huge'", string.Join('\n', CtlRun.Parse("lab", "node", "add", "n", "--type", "m9.huge").Errors.Select(e => e.Message)));
        Assert.Empty(CtlRun.Parse("lab", "node", "rm", "node3").Errors);
    }

    [Theory]
    [InlineData("Node3", "is not a node name")]
    [InlineData("node-3", "is not a node name")]
    [InlineData("vpc", "taken by the lab itself")]
    [InlineData("etcd", "taken by the lab itself")]
    public void ABadNameIsUsageBeforeTheLabIsAsked(string name, string message)
    {
        var result = CtlRun.InProcess("lab", "node", "add", name);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"fathomctl lab node add: '{name}' ", result.Stderr);
        Assert.Contains(message, result.Stderr);
    }
}
