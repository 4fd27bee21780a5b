namespace Fathom.Ctl;

/// <summary>
/// fathomctl: a table of commands, each implemented in its own file under Commands/.
/// Every handler returns the process exit code; errors go to stderr as one line.
/// </summary>
internal static class Program
{
    private sealed record Command(string Name, string Usage, Func<string[], Task<int>> Run);

    private static readonly Command[] Commands =
    [
        new("lab", "lab up|down|status|env ...     the emulated VPC (docs/lab.md)", LabCommands.RunAsync),
        new("bench", "bench netlink|cni ...          benchmarks (docs/benchmarks.md)", BenchCommands.RunAsync),
        new("version", "version                        print the version", _ => { Console.WriteLine(Version); return Task.FromResult(0); }),
    ];

    internal static string Version =>
        typeof(Program).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            return Usage(args.Length == 0 ? 2 : 0);
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            Console.Error.WriteLine($"fathomctl: unknown command '{args[0]}'");
            return Usage(2);
        }
        try
        {
            return await command.Run(args[1..]);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"fathomctl {command.Name}: {e.Message}");
            Console.Error.WriteLine($"usage: fathomctl {command.Usage}");
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"fathomctl {command.Name}: {e.Message}");
            return 1;
        }
    }

    private static int Usage(int code)
    {
        var w = code == 0 ? Console.Out : Console.Error;
        w.WriteLine("usage: fathomctl <command> [args]");
        foreach (var c in Commands) w.WriteLine("  " + c.Usage);
        return code;
    }
}

/// <summary>Bad command-line usage: printed with the command's usage line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
