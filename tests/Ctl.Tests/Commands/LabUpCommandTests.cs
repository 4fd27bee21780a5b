using Fathom.Lab.Control;

namespace Fathom.Ctl.Tests.Commands;

/// <summary><c>lab up</c>'s options.</summary>
public sealed class LabUpCommandTests
{
    [Fact]
    public void WithoutFlagsItAsksForTheDefaultLab()
    {
        var parse = CtlRun.Parse("lab", "up");
        Assert.Empty(parse.Errors);
        Assert.Equal(new LabOptions(), LabUpCommand.OptionsFrom(parse));
    }

    [Fact]
    public void EveryFlagReachesTheLabOptions()
    {
        var parse = CtlRun.Parse("lab", "up", "--nodes", "3", "--instance-type", "m5.large", "--subnets", "2", "--imds-delay", "6000",
            "--faults", "throttle:DescribeSubnets=1", "--attach-latency", "400", "--throttle-rate", "0.05", "--error-rate", "0.25");
        Assert.Empty(parse.Errors);
        Assert.Equal(new LabOptions
        {
            Nodes = 3,
            InstanceType = "m5.large",
            Subnets = 2,
            ImdsDelayMs = 6000,
            Faults = "throttle:DescribeSubnets=1",
            AttachLatencyMs = 400,
            ThrottleRate = 0.05,
            ErrorRate = 0.25,
        }, LabUpCommand.OptionsFrom(parse));
    }

    [Theory]
    [InlineData("--throttle-rate", "-0.1")]
    [InlineData("--throttle-rate", "2")]
    [InlineData("--error-rate", "half")]
    [InlineData("--attach-latency", "-1")]
    [InlineData("--attach-latency", "1s")]
    [InlineData("--imds-delay", "-5")]
    [InlineData("--instance-type", "t2.micro")]
    public void OutOfRangeValuesAreParseErrors(string flag, string value)
    {
        var parse = CtlRun.Parse("lab", "up", flag, value);
        Assert.Contains(parse.Errors, e => e.Message.Contains(flag, StringComparison.Ordinal) && e.Message.Contains(value, StringComparison.Ordinal));
    }
}
