namespace Fathom.Ctl.Tests.Commands;

/// <summary>
/// <c>bench sticky</c>'s refusals, before it makes anything. Its run end to end is what
/// <c>tests/Lab.Tests/Cri/LabStickyTests.cs</c> does on one move (lab, containerd, sticky agents).
/// </summary>
public sealed class BenchStickyTests
{
    [PrivilegedTheory("ip")]
    [InlineData("--moves: 1..50", "--moves", "0")]
    [InlineData("--attach-latency-ms: 0..10000", "--attach-latency-ms", "20000")]
    public void A_value_out_of_range_is_refused_naming_the_option(string says, params string[] args)
    {
        var run = CtlRun.Process(["bench", "sticky", .. args]);
        Assert.Equal(1, run.ExitCode);
        Assert.Contains(says, run.Stderr);
    }
}
