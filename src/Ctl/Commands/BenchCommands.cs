namespace Fathom.Ctl;

/// <summary><c>fathomctl bench netlink|cni</c>: side-by-side benchmarks (docs/benchmarks.md).</summary>
internal static class BenchCommands
{
    public static Task<int> RunAsync(string[] args) => args.FirstOrDefault() switch
    {
        "netlink" => BenchNetlinkCommand.RunAsync(args[1..]),
        "cni" => BenchCniCommand.RunAsync(args[1..]),
        _ => throw new UsageException("expected 'netlink' or 'cni'"),
    };
}
