using System.CommandLine;

namespace Fathom.Ctl;

/// <summary><c>fathomctl bench netlink|cni|dataplane|scale|sticky|report</c>: side-by-side benchmarks (docs/benchmarks.md).</summary>
internal static class BenchCommands
{
    public static Command Create() => new("bench", "Side-by-side benchmarks, as root (docs/benchmarks.md).")
    {
        BenchNetlinkCommand.Create(),
        BenchCniCommand.Create(),
        BenchDataplane.Create(),
        BenchScale.Create(),
        BenchSticky.Create(),
        Report.Create(),
    };
}
