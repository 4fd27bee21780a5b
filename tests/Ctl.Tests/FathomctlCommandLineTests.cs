namespace Fathom.Ctl.Tests;

/// <summary>
/// The command line as a whole (issue 7): help on every command, errors that name the command
/// and the valid choices, exit codes (0, 1, 2 for bad usage), and shell completion.
/// </summary>
public sealed class FathomctlCommandLineTests
{
    public static TheoryData<string> CommandPaths() => [.. CtlRun.AllCommands().Select(c => string.Join(' ', c.Path))];

    [Theory]
    [MemberData(nameof(CommandPaths))]
    public void EveryCommandAnswersHelpNamingAndDescribingItsOptions(string path)
    {
        var words = path.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var command = CtlRun.AllCommands().Single(c => c.Path.SequenceEqual(words)).Command;
        foreach (var help in new[] { "--help", "-h" })
        {
            var result = CtlRun.InProcess([.. words, help]);
            Assert.Equal(0, result.ExitCode);
            Assert.Equal("", result.Stderr);
            Assert.Contains($"{FathomctlCommandLine.Name} {path}".Trim(), result.Stdout);
            foreach (var option in command.Options)
            {
                Assert.Contains(option.Name, result.Stdout);
                Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{path} {option.Name} has no description");
            }
            foreach (var argument in command.Arguments)
            {
                Assert.Contains(argument.Name, result.Stdout);
                Assert.False(string.IsNullOrWhiteSpace(argument.Description), $"{path} {argument.Name} has no description");
            }
            foreach (var sub in command.Subcommands.Where(s => !s.Hidden))
                Assert.Contains(sub.Name, result.Stdout);
        }
        Assert.False(string.IsNullOrWhiteSpace(command.Description), $"'{path}' has no description");
    }

    [Fact]
    public void TheTreeHasEveryCommandScriptsAndDocsUse()
    {
        var paths = CtlRun.AllCommands().Select(c => string.Join(' ', c.Path)).ToHashSet();
        foreach (var expected in new[] { "lab up", "lab down", "lab status", "lab env", "lab attach", "lab serve",
                     "lab pod add", "lab pod exec", "lab pod record", "lab pod del", "lab node add", "lab node rm", "bench netlink", "bench cni", "status", "version", "help" })
            Assert.Contains(expected, paths);
    }

    [Fact]
    public void TopLevelHelpListsTheCommands()
    {
        var result = CtlRun.InProcess("--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Commands:", result.Stdout);
        foreach (var command in new[] { "lab", "bench", "status", "version", "help" }) Assert.Contains($"  {command} ", result.Stdout);
        // `fathomctl help`, as before there was --help.
        Assert.Equal(result, CtlRun.InProcess("help"));
    }

    [Theory]
    [InlineData("", "fathomctl: which command? (commands: lab, bench, status, version, help)")]
    [InlineData("frob", "fathomctl: unknown command 'frob' (commands: lab, bench, status, version, help)")]
    [InlineData("lab", "fathomctl lab: which command? (commands: up, down, status, env, attach, pod, sandbox, node, serve)")]
    [InlineData("lab frob", "fathomctl lab: unknown command 'frob' (commands: up, down, status, env, attach, pod, sandbox, node, serve)")]
    [InlineData("lab pod", "fathomctl lab pod: which command? (commands: add, exec, record, del)")]
    [InlineData("bench ping", "fathomctl bench: unknown command 'ping' (commands: netlink, cni, dataplane, scale, sticky, report)")]
    [InlineData("--frob", "fathomctl: unknown option '--frob' (commands: lab, bench, status, version, help)")]
    public void AMissingOrUnknownCommandIsAUsageErrorListingTheCommands(string args, string message)
    {
        var words = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var result = CtlRun.InProcess(words);
        Assert.Equal(FathomctlCommandLine.UsageExitCode, result.ExitCode);
        Assert.Equal("", result.Stdout);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(message, lines[0]);
        Assert.Equal($"see '{message[..message.IndexOf(':')]} --help'", lines[^1]);
    }

    [Theory]
    [InlineData("fathomctl lab up:", "'--frob'", "lab", "up", "--frob")]
    [InlineData("fathomctl lab status:", "'extra'", "lab", "status", "extra")]
    [InlineData("fathomctl lab up:", "--nodes: 'zero' is not an integer", "lab", "up", "--nodes", "zero")]
    [InlineData("fathomctl lab up:", "--nodes", "lab", "up", "--nodes")]
    [InlineData("fathomctl lab up:", "--throttle-rate wants a rate from 0 to 1, not '1.5'", "lab", "up", "--throttle-rate", "1.5")]
    [InlineData("fathomctl lab up:", "--attach-latency wants milliseconds", "lab", "up", "--attach-latency", "-5")]
    [InlineData("fathomctl lab attach:", "'--node' is required", "lab", "attach")]
    [InlineData("fathomctl lab pod add:", "'NAME'", "lab", "pod", "add", "--node", "node1")]
    [InlineData("fathomctl lab pod record:", "'--mode' is required", "lab", "pod", "record", "web", "--node", "node1")]
    [InlineData("fathomctl lab serve:", "'--prefix' is required", "lab", "serve")]
    [InlineData("fathomctl bench netlink:", "--cycles wants a positive number, not '0'", "bench", "netlink", "--cycles", "0")]
    [InlineData("fathomctl bench cni:", "--cycles wants a positive number, not 'many'", "bench", "cni", "--cycles", "many")]
    public void ABadOptionOrArgumentIsAUsageErrorNamingTheCommand(string command, string detail, params string[] args)
    {
        var result = CtlRun.InProcess(args);
        Assert.Equal(FathomctlCommandLine.UsageExitCode, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, line => line.StartsWith(command, StringComparison.Ordinal) && line.Contains(detail, StringComparison.Ordinal));
        Assert.Equal($"see '{command.TrimEnd(':')} --help'", lines[^1]);
    }

    [Fact]
    public void AnUnknownOptionListsTheCommandsOptions()
    {
        var result = CtlRun.InProcess("bench", "netlink", "--cycle", "5");
        Assert.Equal(FathomctlCommandLine.UsageExitCode, result.ExitCode);
        Assert.Contains("fathomctl bench netlink: options: --cycles, --netns, --help\n", result.Stderr);
    }

    [Fact]
    public void AnUnknownInstanceTypeListsTheKnownOnes()
    {
        var result = CtlRun.InProcess("lab", "up", "--instance-type", "x9.huge");
        Assert.Equal(FathomctlCommandLine.UsageExitCode, result.ExitCode);
        Assert.StartsWith("fathomctl lab up: --instance-type: unknown 'x9.huge' (known: t3.small, t3.medium, m5.large, m5.xlarge, c5.4xlarge, m5.24xlarge)", result.Stderr);
    }

    /// <summary>
    /// Values the parser accepts but the lab refuses are usage errors too, found when the command
    /// runs, before it touches anything: no root needed (moved here from the lab's kernel tests).
    /// </summary>
    [Theory]
    [InlineData("--nodes must be 1..64", "--nodes", "0")]
    [InlineData("--subnets must be 1..16", "--subnets", "17")]
    [InlineData("--faults: fault 'throttle:AttachNetworkInterface=2': rate must be a number from 0 to 1", "--faults", "throttle:AttachNetworkInterface=2")]
    [InlineData("--faults: fault 'slowness=0.1': unknown fault", "--faults", "slowness=0.1")]
    [InlineData("--faults: fault 'error:AttachNetworkInterfaces=0.5': unknown action 'AttachNetworkInterfaces'", "--faults", "error:AttachNetworkInterfaces=0.5")]
    public void LabUpRefusesOptionsTheLabCannotHave(string message, params string[] flags)
    {
        var result = CtlRun.InProcess(["lab", "up", .. flags]);
        Assert.Equal(FathomctlCommandLine.UsageExitCode, result.ExitCode);
        Assert.Equal("", result.Stdout);
        Assert.Contains("fathomctl lab up: " + message, result.Stderr);
    }

    [Fact]
    public void ArgumentsAreTakenAsTheyAreNotAsResponseFiles()
    {
        var parse = CtlRun.Parse("lab", "pod", "record", "@pods", "--node", "node1", "--mode", "underlay");
        Assert.Empty(parse.Errors);
        Assert.Equal("@pods", parse.GetValue(LabPodCommands.RecordName));
    }

    [Fact]
    public void VersionPrintsTheVersion()
    {
        var result = CtlRun.InProcess("version");
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^\d+\.\d+\.\d+\n$", result.Stdout);
    }

    [Theory]
    [InlineData("fathomctl ", new[] { "bench", "help", "lab", "status", "version" })]
    [InlineData("fathomctl lab ", new[] { "attach", "down", "env", "pod", "serve", "status", "up" })]
    [InlineData("fathomctl lab pod ", new[] { "add", "del", "exec", "record" })]
    [InlineData("fathomctl lab pod add web --node node1 --mode ", new[] { "shared", "underlay" })]
    [InlineData("fathomctl lab up --instance-type ", new[] { "c5.4xlarge", "m5.24xlarge", "m5.large", "m5.xlarge", "t3.medium", "t3.small" })]
    [InlineData("fathomctl lab up --instance-type m5", new[] { "m5.24xlarge", "m5.large", "m5.xlarge" })]
    [InlineData("fathomctl lab pod record web --node node1 --mode ", new[] { "host-gw", "overlay", "shared", "underlay" })]
    [InlineData("fathomctl bench netlink --c", new[] { "--cycles" })]
    public void TheSuggestDirectiveCompletesCommandsOptionsAndChoices(string line, string[] expected)
    {
        // What a shell's completion function sends: the line so far and the cursor's position in it.
        var result = CtlRun.InProcess($"[suggest:{line.Length}]", line);
        Assert.Equal(0, result.ExitCode);
        var suggestions = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var word in expected) Assert.Contains(word, suggestions);
        if (!line.EndsWith(' ')) Assert.All(suggestions, s => Assert.StartsWith(line.Split(' ')[^1], s, StringComparison.Ordinal));
    }

    /// <summary>The real program, as run.sh and the lab tests start it: the same answers and exit codes as in process.</summary>
    [Fact]
    public void TheProgramAnswersWithTheSameExitCodes()
    {
        var help = CtlRun.Process("lab", "up", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.Contains("--instance-type", help.Stdout);

        var bad = CtlRun.Process("lab", "up", "--nodes", "zero");
        Assert.Equal(FathomctlCommandLine.UsageExitCode, bad.ExitCode);
        Assert.Contains("fathomctl lab up: --nodes: 'zero' is not an integer", bad.Stderr);

        var badFaults = CtlRun.Process("lab", "up", "--faults", "throttle:AttachNetworkInterface=2");
        Assert.Equal(FathomctlCommandLine.UsageExitCode, badFaults.ExitCode);
        Assert.Contains("--faults", badFaults.Stderr);

        Assert.Equal(FathomctlCommandLine.UsageExitCode, CtlRun.Process().ExitCode);
        Assert.Equal(0, CtlRun.Process("version").ExitCode);
    }
}
