using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>The lab's fault flags and their effect per action.</summary>
public sealed class FaultPlanTests
{
    [Fact]
    public void Parses_rates_per_action_and_latency()
    {
        var plan = FaultPlan.Parse("throttle=0.05, error:AttachNetworkInterface=0.2, throttle:CreateNetworkInterface=1, attach-latency=300ms");
        Assert.Equal(0.05, plan.ThrottleRate("DescribeSubnets"));
        Assert.Equal(1.0, plan.ThrottleRate("CreateNetworkInterface"));
        Assert.Equal(0.2, plan.ErrorRate("AttachNetworkInterface"));
        Assert.Equal(0.0, plan.ErrorRate("DescribeSubnets"));
        Assert.Equal(TimeSpan.FromMilliseconds(300), plan.AttachLatency);
        Assert.Equal(TimeSpan.FromSeconds(2), FaultPlan.Parse("attach-latency=2s").AttachLatency);
        var lost = FaultPlan.Parse("lost=0.1,lost:UnassignPrivateIpAddresses=1");
        Assert.Equal(0.1, lost.LostAnswerRate("AttachNetworkInterface"));
        Assert.Equal(1.0, lost.LostAnswerRate("UnassignPrivateIpAddresses"));
        Assert.Equal(0.0, lost.ErrorRate("UnassignPrivateIpAddresses"));
    }

    [Theory]
    [InlineData("throttle")]
    [InlineData("throttle=2")]
    [InlineData("slowness=0.1")]
    [InlineData("attach-latency=soon")]
    [InlineData("attach-latency:AttachNetworkInterface=1s")]
    public void Refuses_malformed_flags(string spec) => Assert.Throws<FormatException>(() => FaultPlan.Parse(spec));

    [Fact]
    public void Refuses_an_action_the_api_does_not_serve_naming_the_real_ones()
    {
        // "AttachNetworkInterfaces" (a plural typo) would otherwise inject nothing, silently.
        var e = Assert.Throws<FormatException>(() => FaultPlan.Parse("error:AttachNetworkInterfaces=0.5"));
        Assert.Contains("unknown action 'AttachNetworkInterfaces'", e.Message);
        Assert.Contains("AttachNetworkInterface,", e.Message);
    }

    [Fact]
    public void Draws_EC2s_fault_codes_at_the_configured_rate()
    {
        var plan = new FaultPlan(new Random(3));
        Assert.Null(plan.Draw("DescribeSubnets"));
        plan.SetThrottleRate(1, "DescribeSubnets");
        Assert.Equal("RequestLimitExceeded", plan.Draw("DescribeSubnets")?.Code);
        Assert.Null(plan.Draw("DescribeInstances"));

        plan.Clear();
        plan.SetErrorRate(0.25);
        var codes = Enumerable.Range(0, 2000).Select(_ => plan.Draw("DeleteNetworkInterface")?.Code).ToList();
        Assert.InRange(codes.Count(c => c is not null), 400, 600);
        Assert.Equal(["InternalError", "Unavailable"], codes.OfType<string>().Distinct().Order());

        // A lost answer is drawn apart, after the action: a request can go through the first draw and still lose its answer.
        plan.Clear();
        plan.SetLostAnswerRate(1, "UnassignPrivateIpAddresses");
        Assert.Null(plan.Draw("UnassignPrivateIpAddresses"));
        Assert.Equal(500, (int?)plan.DrawLost("UnassignPrivateIpAddresses")?.StatusCode);
        Assert.Null(plan.DrawLost("AssignPrivateIpAddresses"));
    }
}
