namespace Fathom.Ctl;

/// <summary><c>fathomctl bench netlink|cni|dataplane</c>: side-by-side benchmarks (docs/benchmarks.md).</summary>
internal static class BenchCommands
{
    private static Task<int> Dataplane(string[] args)
    {
        var a = new CommandArgs(args);
        var options = new BenchDataplaneOptions(a.PositiveInt("--seconds", 5), a.PositiveInt("--rounds", 3), a.PositiveInt("--streams", 1), a.Value("--json"));
        a.EnsureConsumed();
        using var scratch = new BenchScratch();
        return Task.FromResult(new BenchDataplane(scratch, options).Run());
    }

    public static Task<int> RunAsync(string[] args) => args.FirstOrDefault() switch
    {
        "netlink" => BenchNetlinkCommand.RunAsync(args[1..]),
        "cni" => BenchCniCommand.RunAsync(args[1..]),
        "dataplane" => Dataplane(args[1..]),
        _ => throw new UsageException("expected 'netlink', 'cni' or 'dataplane'"),
    };
}
