namespace Fathom.Ctl;

/// <summary>fathomctl: the command tree is <see cref="FathomctlCommandLine"/>; each command lives in its own file under Commands/.</summary>
internal static class Program
{
    internal static string Version =>
        typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static Task<int> Main(string[] args) => FathomctlCommandLine.InvokeAsync(args, Console.Out, Console.Error);
}
