using Fathom.Lab.Control;

namespace Fathom.Ctl.Tests.Commands;

/// <summary><c>lab up --runtime</c> and <c>lab sandbox run|rm|ls</c> as the command line reads them (issue 11 §1).</summary>
public sealed class LabSandboxCommandsTests
{
    [Fact]
    public void RuntimeContainerdReachesTheLabOptionsAndNoneIsNoRuntime()
    {
        Assert.Null(LabUpCommand.OptionsFrom(CtlRun.Parse("lab", "up")).Runtime);
        Assert.Null(LabUpCommand.OptionsFrom(CtlRun.Parse("lab", "up", "--runtime", "none")).Runtime);
        var parse = CtlRun.Parse("lab", "up", "--runtime", "containerd");
        Assert.Empty(parse.Errors);
        Assert.Equal(LabContainerd.Runtime, LabUpCommand.OptionsFrom(parse).Runtime);
    }

    [Theory]
    [InlineData("crio", "--runtime: unknown 'crio' (known: none, containerd)")]
    public void AnUnknownRuntimeIsRefusedNamingTheKnownOnes(string runtime, string message)
    {
        var options = LabUpCommand.OptionsFrom(CtlRun.Parse("lab", "up", "--runtime", runtime));
        Assert.Equal(message, Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void ContainerdWithoutAgentsIsRefused()
    {
        var options = LabUpCommand.OptionsFrom(CtlRun.Parse("lab", "up", "--runtime", "containerd", "--no-agents"));
        Assert.Contains("needs the nodes' agents", Assert.Throws<ArgumentException>(options.Validate).Message);
    }

    [Fact]
    public void SandboxRunNeedsANameAndANodeAndDefaultsToSharedInTheDefaultNamespace()
    {
        var parse = CtlRun.Parse("lab", "sandbox", "run", "web", "--node", "node1");
        Assert.Empty(parse.Errors);
        Assert.Equal("shared", parse.GetValue(LabSandboxCommands.Mode));
        Assert.Equal("default", parse.GetValue(LabSandboxCommands.Namespace));
        Assert.NotEmpty(CtlRun.Parse("lab", "sandbox", "run", "web").Errors);
        Assert.NotEmpty(CtlRun.Parse("lab", "sandbox", "run", "--node", "node1").Errors);
        Assert.Empty(CtlRun.Parse("lab", "sandbox", "rm", "web").Errors);
        Assert.Empty(CtlRun.Parse("lab", "sandbox", "ls").Errors);
    }
}
