using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace Fathom.Ctl;

/// <summary>
/// fathomctl's command tree on System.CommandLine (issue 7): <c>--help</c>/<c>-h</c> on every
/// command, the <c>[suggest]</c> directive for shell completion, and fathomctl's own exit codes —
/// 0 success, 1 failure, 2 bad usage (which System.CommandLine alone reports as 1), and whatever
/// a command returns of its own (3 for <c>lab status</c> of a lab that is not up, 130 for an
/// interrupted benchmark). Errors go to stderr, one line each, prefixed with the command's path.
/// </summary>
internal static class FathomctlCommandLine
{
    /// <summary>The exit code of a usage error, as before System.CommandLine.</summary>
    public const int UsageExitCode = 2;

    /// <summary>The name in help and error messages, whatever the host process is called (dotnet, testhost).</summary>
    public const string Name = "fathomctl";

    /// <summary>The whole tree; built once, parsed any number of times.</summary>
    public static RootCommand Root { get; } = Create();

    /// <summary>
    /// No response files: System.CommandLine would read a file for any argument that starts
    /// with '@', where fathomctl has always taken arguments as they are.
    /// </summary>
    private static readonly ParserConfiguration Parser = new() { ResponseFileTokenReplacer = null };

    /// <summary>Parses without running anything.</summary>
    public static ParseResult Parse(IReadOnlyList<string> args) => Root.Parse(args, Parser);

    private static RootCommand Create()
    {
        var root = new RootCommand("Fathom's operator CLI: the emulated VPC (lab), the benchmarks (bench) and a node agent's status (status).")
        {
            HelpName = Name,
        };
        // The [suggest] directive parses the command line a shell hands over, which starts with
        // the program's name: under a test host that is not the root command's own name.
        if (root.Name != Name) root.Aliases.Add(Name);
        root.Subcommands.Add(LabCommands.Create());
        root.Subcommands.Add(BenchCommands.Create());
        root.Subcommands.Add(AgentStatusCommand.Create());
        var version = new Command("version", "Print fathomctl's version.");
        version.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.WriteLine(Program.Version);
            return 0;
        });
        root.Subcommands.Add(version);
        // `fathomctl help` worked before there was --help; it still does.
        var help = new Command("help", "Show this help (same as --help).");
        help.SetAction(parse => parse.RootCommandResult.Command.Parse(["--help"]).Invoke(parse.InvocationConfiguration));
        root.Subcommands.Add(help);
        return root;
    }

    /// <summary>Parses <paramref name="args"/> and runs the command; returns the process exit code.</summary>
    public static async Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error)
    {
        var parse = Parse(args);
        var configuration = new InvocationConfiguration
        {
            Output = output,
            Error = error,
            // The commands report their own failures (below), and the benchmarks and the lab
            // server handle Ctrl-C and SIGTERM themselves: System.CommandLine's handler would end
            // the process 2 s after the signal, before a benchmark reports what it measured.
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = null,
        };
        if (parse.Action is ParseErrorAction)
        {
            WriteParseErrors(parse, error);
            return UsageExitCode;
        }
        try
        {
            return await parse.InvokeAsync(configuration);
        }
        catch (UsageException e)
        {
            error.WriteLine($"{PathOf(parse.CommandResult)}: {e.Message}");
            error.WriteLine(SeeHelp(parse.CommandResult));
            return UsageExitCode;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            error.WriteLine($"{PathOf(parse.CommandResult)}: {e.Message}");
            return 1;
        }
    }

    /// <summary>
    /// Each error on a line of its own naming the command, then where the command's help is. A
    /// command that only groups others (lab, bench, lab pod) says which one was unknown or missing,
    /// and lists them; an unknown option brings the list of the command's options.
    /// </summary>
    private static void WriteParseErrors(ParseResult parse, TextWriter error)
    {
        var command = parse.CommandResult;
        var path = PathOf(command);
        var subcommands = command.Command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
        if (subcommands.Count > 0 && command.Command.Action is null)
        {
            var choices = $"(commands: {string.Join(", ", subcommands)})";
            var unknown = parse.UnmatchedTokens.FirstOrDefault();
            error.WriteLine(unknown is null ? $"{path}: which command? {choices}"
                : unknown.StartsWith('-') ? $"{path}: unknown option '{unknown}' {choices}"
                : $"{path}: unknown command '{unknown}' {choices}");
        }
        else
        {
            foreach (var e in parse.Errors) error.WriteLine($"{path}: {e.Message}");
            // An unknown option: name the ones this command has (its own and the inherited --help).
            if (parse.UnmatchedTokens.Any(t => t.StartsWith('-')))
            {
                var options = command.Command.Options.Concat(AncestorsOf(command).SelectMany(c => c.Options.Where(o => o.Recursive)))
                    .Where(o => !o.Hidden).Select(o => o.Name).Distinct();
                error.WriteLine($"{path}: options: {string.Join(", ", options)}");
            }
        }
        error.WriteLine(SeeHelp(command));
    }

    private static IEnumerable<Command> AncestorsOf(CommandResult command)
    {
        for (var r = command.Parent; r is not null; r = r.Parent)
            if (r is CommandResult c) yield return c.Command;
    }

    /// <summary>"fathomctl lab up": the words that name a command, from the root.</summary>
    public static string PathOf(CommandResult command)
    {
        var names = new Stack<string>();
        for (SymbolResult? r = command; r is not null; r = r.Parent)
            if (r is CommandResult c) names.Push(c.Parent is null ? Name : c.Command.Name);
        return string.Join(' ', names);
    }

    private static string SeeHelp(CommandResult command) => $"see '{PathOf(command)} --help'";
}

/// <summary>Bad usage found only once a command runs (e.g. lab options out of range): printed with a pointer to its help, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
