using System.CommandLine;

namespace Fathom.Ctl.Tests;

/// <summary>fathomctl in process (its command tree, its exit codes, what it writes) and as the process operators and scripts run.</summary>
internal static class CtlRun
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>Runs <see cref="FathomctlCommandLine.InvokeAsync"/> with <paramref name="args"/>, capturing what it writes.</summary>
    public static Result InProcess(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = FathomctlCommandLine.InvokeAsync(args, output, error).GetAwaiter().GetResult();
        return new Result(exit, output.ToString(), error.ToString());
    }

    /// <summary>Parses without running anything.</summary>
    public static ParseResult Parse(params string[] args) => FathomctlCommandLine.Parse(args);

    /// <summary>The fathomctl.dll built next to the tests, run by dotnet as run.sh and the lab tests run it.</summary>
    public static Shell.Result Process(params string[] args) =>
        Shell.Run(Dotnet, [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), .. args]);

    public static string Dotnet => Privileged.FindTool("dotnet") ?? "dotnet";

    /// <summary>Every command of the tree with the words that name it ("lab", "pod", "add"), root first (no words).</summary>
    public static IEnumerable<(string[] Path, Command Command)> AllCommands()
    {
        var pending = new Stack<(string[], Command)>();
        pending.Push(([], FathomctlCommandLine.Root));
        while (pending.Count > 0)
        {
            var (path, command) = pending.Pop();
            yield return (path, command);
            foreach (var sub in command.Subcommands) pending.Push(([.. path, sub.Name], sub));
        }
    }
}
