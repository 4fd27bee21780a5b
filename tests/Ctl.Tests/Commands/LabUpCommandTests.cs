using Fathom.Lab.Control;
using Fathom.Lab.Ec2;

namespace Fathom.Ctl.Tests.Commands;

/// <summary><c>lab up</c>'s options, and its three fault flags folded into <c>--faults</c> (issue 7).</summary>
public sealed class LabUpCommandTests
{
    [Fact]
    public void WithoutFlagsItAsksForTheDefaultLab()
    {
        var parse = CtlRun.Parse("lab", "up");
        Assert.Empty(parse.Errors);
        Assert.Equal(new LabOptions(), LabUpCommand.OptionsFrom(parse));
    }

    // The choice options (LabUpCommand.Choice): the first value by default, the other when asked, anything else refused.
    [Theory]
    [InlineData("--datastore", "embedded", "etcd", "consul")]
    [InlineData("--redirect", "kernel", "bpf", "xdp")]
    public void A_choice_is_its_default_unless_the_other_is_asked(string option, string byDefault, string other, string unknown)
    {
        static string Read(LabOptions o, string option) => option == "--datastore" ? o.Datastore : o.Redirect;
        Assert.Equal(byDefault, Read(LabUpCommand.OptionsFrom(CtlRun.Parse("lab", "up")), option));
        var parse = CtlRun.Parse("lab", "up", option, other);
        Assert.Empty(parse.Errors);
        Assert.Equal(other, Read(LabUpCommand.OptionsFrom(parse), option));
        Assert.NotEmpty(CtlRun.Parse("lab", "up", option, unknown).Errors);
    }

    [Fact]
    public void A_redirect_the_lab_does_not_know_is_refused_by_name() =>
        Assert.Contains("--redirect", Assert.Throws<ArgumentException>(() => new LabOptions { Redirect = "xdp" }.Validate()).Message);

    [Fact]
    public void NoAgentsTurnsTheNodeAgentsOff()
    {
        Assert.True(LabUpCommand.OptionsFrom(CtlRun.Parse("lab", "up")).Agents);
        var parse = CtlRun.Parse("lab", "up", "--no-agents");
        Assert.Empty(parse.Errors);
        Assert.False(LabUpCommand.OptionsFrom(parse).Agents);
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
            Faults = "throttle:DescribeSubnets=1,attach-latency=400ms,throttle=0.05,error=0.25",
        }, LabUpCommand.OptionsFrom(parse));
    }

    [Theory]
    [InlineData(null, 0, 0, 0, null)]
    [InlineData("", 0, 0, 0, "")]
    [InlineData("error:CreateNetworkInterface=0.1", 0, 0, 0, "error:CreateNetworkInterface=0.1")]
    [InlineData(null, 300, 0, 0, "attach-latency=300ms")]
    [InlineData(null, 0, 0.5, 0, "throttle=0.5")]
    [InlineData(null, 0, 0, 0.125, "error=0.125")]
    [InlineData(" throttle=0.3 ", 250, 1, 0.01, "throttle=0.3,attach-latency=250ms,throttle=1,error=0.01")]
    [InlineData("", 0, 0.2, 0, "throttle=0.2")]
    public void TheFaultFlagsAreAppendedToTheFaultSpec(string? faults, int attachLatencyMs, double throttleRate, double errorRate, string? expected) =>
        Assert.Equal(expected, LabUpCommand.FoldFaultFlags(faults, attachLatencyMs, throttleRate, errorRate));

    /// <summary>What the separate settings did in LabServer.FaultPlanFor, the folded spec does: a flag overrides the same key for all actions, a per-action rate still wins for its action.</summary>
    [Fact]
    public void AFoldedSpecMeansWhatTheSeparateSettingsMeant()
    {
        var plan = FaultPlan.Parse(LabUpCommand.FoldFaultFlags(
            "throttle=0.3,throttle:AttachNetworkInterface=0.5,attach-latency=2s,error=0.4", attachLatencyMs: 400, throttleRate: 0.1, errorRate: 0)!);
        Assert.Equal(0.1, plan.ThrottleRate("DescribeSubnets"));
        Assert.Equal(0.5, plan.ThrottleRate("AttachNetworkInterface"));
        Assert.Equal(TimeSpan.FromMilliseconds(400), plan.AttachLatency);
        // A flag left at zero changes nothing, as before: the spec's own error rate stays.
        Assert.Equal(0.4, plan.ErrorRate("DescribeSubnets"));
    }

    [Fact]
    public void FoldedRatesKeepEveryDigit()
    {
        var parse = CtlRun.Parse("lab", "up", "--throttle-rate", "0.123456789", "--error-rate", "1e-3");
        Assert.Empty(parse.Errors);
        var plan = FaultPlan.Parse(LabUpCommand.OptionsFrom(parse).Faults!);
        Assert.Equal(0.123456789, plan.ThrottleRate("DescribeInstances"));
        Assert.Equal(0.001, plan.ErrorRate("DescribeInstances"));
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
