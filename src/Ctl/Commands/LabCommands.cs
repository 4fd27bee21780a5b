namespace Fathom.Ctl;

/// <summary><c>fathomctl lab up|down|status|env</c>: the emulated VPC (docs/lab.md).</summary>
internal static class LabCommands
{
    public static Task<int> RunAsync(string[] args) => throw new NotImplementedException("lab: not built yet");
}
