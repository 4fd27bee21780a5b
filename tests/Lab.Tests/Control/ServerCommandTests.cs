using Fathom.Lab.Control;

namespace Fathom.Lab.Tests.Control;

public sealed class ServerCommandTests
{
    [Fact]
    public void RecognizesOnlyTheServerOfItsOwnLab()
    {
        var layout = new LabLayout("ftlab");
        var command = new ServerCommand("/usr/bin/dotnet", ["/x/fathomctl.dll"]);
        var argv = new List<string> { "/usr/bin/dotnet" };
        argv.AddRange(command.Arguments(layout));
        Assert.True(ServerCommand.IsServerFor(argv, layout));
        Assert.False(ServerCommand.IsServerFor(argv, new LabLayout("flab")));
        Assert.False(ServerCommand.IsServerFor(["fathomctl", "lab", "status"], layout));
        Assert.False(ServerCommand.IsServerFor([], layout));
    }

    [Fact]
    public void OptionsAreValidated()
    {
        Assert.Throws<ArgumentException>(() => new LabOptions { Nodes = 0 }.Validate());
        Assert.Throws<ArgumentException>(() => new LabOptions { Subnets = 17 }.Validate());
        Assert.Throws<ArgumentException>(() => new LabOptions { ImdsDelayMs = -1 }.Validate());
        Assert.Contains("c5.4xlarge", Assert.Throws<ArgumentException>(() => new LabOptions { InstanceType = "x9.huge" }.Validate()).Message);
        Assert.Contains("--faults", Assert.Throws<ArgumentException>(() => new LabOptions { Faults = "slowness=0.1" }.Validate()).Message);
        new LabOptions { Nodes = 4, InstanceType = "c5.4xlarge", Subnets = 2, Faults = "error:AttachNetworkInterface=0.2" }.Validate();
    }
}
