namespace Fathom.Ctl;

/// <summary><c>fathomctl bench cni</c>: fathom against the reference host-device plugin.</summary>
internal static class BenchCniCommand
{
    public static Task<int> RunAsync(string[] args) => throw new NotImplementedException("bench cni: not built yet");
}
