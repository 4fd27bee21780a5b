using System.Runtime.InteropServices;
using System.Buffers;
using System.Text.Json;
using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// The plugin's entry point (reference pkg/skel): reads CNI_COMMAND and the environment,
/// validates them and the config in the spec's order, picks the mode's datapath, runs the
/// command's handler, and prints the result in the requested version. It is the one place
/// where an exception becomes a CNI error (<c>{cniVersion, code, msg, details}</c> on stdout,
/// exit status 1) — never a stack trace (STYLE.md §4).
/// </summary>
public static class CniSkeleton
{
    /// <summary>Printed to stderr when CNI_COMMAND is missing (someone ran the binary by hand).</summary>
    public const string About = "CNI fathom plugin: one network card per pod (CNI 1.1); see docs/cni.md";

    /// <summary>
    /// Runs one invocation: <paramref name="handlers"/> maps each command (VERSION aside) to its
    /// logic (<see cref="CniCommands.Table"/>), <paramref name="modes"/> maps the config's
    /// <c>mode</c> to a datapath. Returns the exit status.
    /// </summary>
    public static int Run(IReadOnlyDictionary<CniCommand, CniHandler> handlers, CniModes modes, CniInvocation invocation)
    {
        var started = invocation.Time.GetTimestamp();
        var clock = System.Diagnostics.Stopwatch.GetTimestamp(); // the steps' start (CniSteps)
        CniSteps.Recording? steps = null;
        var version = CniVersion.Latest; // the version errors are reported in until the config's is known
        var command = CniCommand.Version;
        NetworkConfig? config = null;
        CniRequest? request = null;
        CniResult? result = null;
        CniException? error = null;
        ReadOnlyMemory<byte> stdin = default;
        try
        {
            command = ReadCommand(invocation);
            if (command == CniCommand.Version)
            {
                // Answered without reading stdin or touching the network stack, as the reference skel does.
                WriteVersion(invocation.Stdout);
                return 0;
            }
            RequireEnvironment(command, invocation);

            stdin = ReadStdin(invocation.Stdin);
            var stdinRead = System.Diagnostics.Stopwatch.GetTimestamp();
            config = NetworkConfig.Parse(stdin, teardown: command == CniCommand.Del);
            // Steps are recorded only for the log, which the config names.
            if (config.LogFile is { Length: > 0 })
            {
                steps = CniSteps.Begin(clock);
                steps.Add("read the environment and stdin", stdinRead);
            }
            version = config.CniVersion;
            CniVersion.RequireCommand(version, command);

            request = BuildRequest(command, config, modes.NameFor(config), invocation);
            if (!handlers.TryGetValue(command, out var handler))
                throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_COMMAND {CniCommands.Name(command)} is not supported by fathom");

            var datapath = modes.Create(config);
            // Found now, run by the handler: a missing IPAM plugin fails before the datapath changes anything.
            var ipam = config.IpamType is null ? null : new IpamPlugin(config, request.CniPath, invocation.Environment);
            CniSteps.Mark("parse the config");

            result = handler(request, new CniContext(datapath, ipam, invocation.Environment, invocation.Stderr));
            if (result is not null)
            {
                invocation.Stdout.Write(CniResultJson.Serialize(result, version, indented: true));
                invocation.Stdout.Flush();
                CniSteps.Mark("write the result");
            }
            return 0;
        }
        catch (Exception e)
        {
            // A config that failed to parse may still say its version: answer in it when fathom knows it.
            if (config is null && NetworkConfig.PeekVersion(stdin.Span) is { } peeked && CniVersion.IsSupported(peeked))
                version = peeked;
            error = e as CniException ?? new CniException(CniException.CodeFor(e), e.Message, Describe(e), e);
            WriteError(invocation.Stdout, version, error);
            return 1;
        }
        finally
        {
            // Logged once the config (which names the log file) is known, even if the rest failed.
            CniSteps.End();
            if (config?.LogFile is { Length: > 0 } logFile)
                CniLog.Append(logFile, invocation.Time.GetUtcNow(), invocation.Time.GetElapsedTime(started),
                    request ?? PartialRequest(command, config, modes, invocation), result, error, steps);
        }
    }

    // What the log says of an invocation refused before its request was built (a bad environment, an unsupported command).
    private static CniRequest PartialRequest(CniCommand command, NetworkConfig config, CniModes modes, CniInvocation invocation) => new()
    {
        Command = command,
        ContainerId = invocation.Get("CNI_CONTAINERID") ?? "",
        NetnsPath = invocation.Get("CNI_NETNS"),
        IfName = invocation.Get("CNI_IFNAME") ?? "",
        Mode = modes.NameFor(config),
        Config = config,
    };

    /// <summary>Writes the spec's error object.</summary>
    public static void WriteError(Stream stdout, string version, CniException error)
    {
        try
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var w = new Utf8JsonWriter(buffer, CniJson.Writer(indented: true)))
            {
                w.WriteStartObject();
                w.WriteString("cniVersion", version);
                w.WriteNumber("code", (int)error.Code);
                w.WriteString("msg", error.Message);
                if (!string.IsNullOrEmpty(error.Details)) w.WriteString("details", error.Details);
                w.WriteEndObject();
            }
            stdout.Write(buffer.WrittenSpan);
            stdout.Flush();
        }
        catch (IOException)
        {
            // Nobody is reading stdout; the exit status still says it failed.
        }
    }

    private static CniCommand ReadCommand(CniInvocation invocation)
    {
        var value = invocation.Get("CNI_COMMAND");
        if (string.IsNullOrEmpty(value))
        {
            invocation.Stderr.WriteLine(About);
            invocation.Stderr.WriteLine($"CNI protocol versions supported: {string.Join(", ", CniVersion.Supported)}");
            throw new CniException(CniErrorCode.InvalidEnvironment, "required env variables [CNI_COMMAND] missing");
        }
        return CniCommands.TryParse(value, out var command)
            ? command
            : throw new CniException(CniErrorCode.InvalidEnvironment, $"unknown CNI_COMMAND: {value}",
                "one of ADD, DEL, CHECK, STATUS, GC, VERSION");
    }

    /// <summary>The variables each command needs (CNI spec 1.1 §"Parameters"; reference skel).</summary>
    internal static IEnumerable<string> RequiredVariables(CniCommand command) => command switch
    {
        CniCommand.Add or CniCommand.Check => ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
        CniCommand.Del => ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
        CniCommand.Gc => ["CNI_PATH"],
        _ => [],
    };

    private static void RequireEnvironment(CniCommand command, CniInvocation invocation)
    {
        var missing = RequiredVariables(command).Where(v => string.IsNullOrEmpty(invocation.Get(v))).ToList();
        if (missing.Count > 0)
            throw new CniException(CniErrorCode.InvalidEnvironment,
                $"required env variables [{string.Join(", ", missing)}] missing",
                $"{CniCommands.Name(command)} needs {string.Join(", ", RequiredVariables(command))}");
    }

    private static CniRequest BuildRequest(CniCommand command, NetworkConfig config, string mode, CniInvocation invocation)
    {
        var hasContainer = command is CniCommand.Add or CniCommand.Del or CniCommand.Check;
        var containerId = hasContainer ? invocation.Get("CNI_CONTAINERID") ?? "" : "";
        var ifName = hasContainer ? invocation.Get("CNI_IFNAME") ?? "" : "";
        if (hasContainer)
        {
            CniSyntax.ValidateContainerId(containerId);
            CniSyntax.ValidateInterfaceName(ifName);
        }
        var netns = hasContainer ? invocation.Get("CNI_NETNS") : null;
        return new CniRequest
        {
            Command = command,
            ContainerId = containerId,
            NetnsPath = string.IsNullOrEmpty(netns) ? null : netns,
            IfName = ifName,
            // GC and STATUS concern no container: CNI_ARGS is not theirs to validate (the spec
            // gives them none; a runtime's leftover one must not fail them).
            Args = hasContainer ? CniArgs.Parse(invocation.Get("CNI_ARGS")) : CniArgs.Empty,
            CniPath = (invocation.Get("CNI_PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries),
            Mode = mode,
            Config = config,
        };
    }

    /// <summary>
    /// The most stdin fathom reads. A network config is kilobytes (a conflist's entry with a
    /// prevResult); a runtime that streams more is not sending one, and reading it all would only
    /// end in the plugin running out of memory.
    /// </summary>
    internal const int MaxConfigBytes = 16 << 20;

    private static ReadOnlyMemory<byte> ReadStdin(Stream stdin)
    {
        try
        {
            using var buffer = new MemoryStream();
            // A config is a few KiB: a 64 KiB chunk was ≈ 1 % of an ADD's CPU, in fresh heap pages faulted in.
            var chunk = new byte[8 << 10];
            int n;
            while ((n = stdin.Read(chunk)) > 0)
            {
                if (buffer.Length + n > MaxConfigBytes)
                    throw new CniException(CniErrorCode.DecodeFailure, "error parsing network config: larger than fathom reads",
                        $"a network config is at most {MaxConfigBytes >> 20} MiB");
                buffer.Write(chunk, 0, n);
            }
            return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        }
        catch (Exception e) when (e is IOException or NotSupportedException or ObjectDisposedException)
        {
            throw new CniException(CniErrorCode.IoFailure, "error reading the network config from stdin", e.Message, e);
        }
    }

    /// <summary>
    /// The VERSION answer, as bytes: it is the hot path of runtimes probing plugins, so it costs
    /// a write and nothing else (a test checks it against <see cref="CniVersion.Supported"/>).
    /// </summary>
    internal static ReadOnlySpan<byte> VersionAnswer =>
        """{"cniVersion":"1.1.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}"""u8 + "\n"u8;

    /// <summary>
    /// Answers <c>CNI_COMMAND=VERSION</c> before anything else is set up, and returns false for
    /// every other command. Runtimes probe plugins with VERSION often, and a plugin's start is
    /// most of that answer's cost: this reads the one variable with getenv(3) (the BCL's first
    /// environment access copies the whole environment into a dictionary) and writes the
    /// constant answer with one write(2). A failed write falls back to <see cref="Run"/>, which
    /// reports it.
    /// </summary>
    public static unsafe bool TryAnswerVersion()
    {
        var value = (byte*)Interop.GetEnv("CNI_COMMAND");
        if (value is null) return false;
        // Byte by byte, stopping at the first difference: never reads past the value's NUL.
        var expected = "VERSION\0"u8;
        for (var i = 0; i < expected.Length; i++)
            if (value[i] != expected[i]) return false;
        fixed (byte* answer = VersionAnswer)
        {
            nint written;
            do written = Interop.Write(1, answer, (nuint)VersionAnswer.Length);
            while (written < 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR);
            return written == VersionAnswer.Length;
        }
    }

    private static void WriteVersion(Stream stdout)
    {
        stdout.Write(VersionAnswer);
        stdout.Flush();
    }

    // The details of an unexpected exception: its type and inner causes, never a stack trace.
    private static string Describe(Exception e)
    {
        var parts = new List<string> { e.GetType().Name };
        for (var inner = e.InnerException; inner is not null && parts.Count < 4; inner = inner.InnerException)
            parts.Add($"{inner.GetType().Name}: {inner.Message}");
        return string.Join("; ", parts);
    }
}
