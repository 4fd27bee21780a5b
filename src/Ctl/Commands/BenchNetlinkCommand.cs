namespace Fathom.Ctl;

/// <summary><c>fathomctl bench netlink</c>: Fathom.Netlink against the equivalent ip commands.</summary>
internal static class BenchNetlinkCommand
{
    public static Task<int> RunAsync(string[] args) => throw new NotImplementedException("bench netlink: not built yet");
}
