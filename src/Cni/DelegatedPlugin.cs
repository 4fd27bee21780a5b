using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// Another CNI plugin found on CNI_PATH and run the way a runtime runs one (reference
/// pkg/invoke): the caller's environment with CNI_COMMAND set, the config on stdin, a result
/// or a CNI error on stdout.
/// </summary>
public sealed class DelegatedPlugin
{
    private readonly IReadOnlyDictionary<string, string> _environment;

    private DelegatedPlugin(string name, string path, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        Name = name;
        Path = path;
        _environment = environment;
        Timeout = timeout;
    }

    /// <summary>The plugin's type (its file name).</summary>
    public string Name { get; }

    /// <summary>Where it was found.</summary>
    public string Path { get; }

    /// <summary>
    /// Finds <paramref name="name"/> in the first directory of <paramref name="cniPath"/> that has it
    /// (reference invoke.FindInPath); error 105 naming the directories searched when none does.
    /// It runs for at most <paramref name="timeout"/> (default <see cref="DefaultTimeout"/>).
    /// </summary>
    public static DelegatedPlugin Find(string name, IReadOnlyList<string> cniPath, IReadOnlyDictionary<string, string> environment,
        TimeSpan? timeout = null)
    {
        if (cniPath.Count == 0)
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_PATH is empty: cannot find plugin \"{name}\"");
        foreach (var dir in cniPath)
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate)) return new DelegatedPlugin(name, candidate, environment, timeout ?? DefaultTimeout);
        }
        throw new CniException(CniErrorCode.IpamPluginNotFound, $"failed to find plugin \"{name}\" in CNI_PATH",
            $"searched [{string.Join(", ", cniPath)}]");
    }

    /// <summary>
    /// Runs the plugin for <paramref name="command"/> with <paramref name="stdin"/>. Returns its
    /// stdout on success; throws the plugin's own CNI error (its code, the message prefixed with
    /// the plugin's name) or error 106 when it failed without one, or did not finish within
    /// <see cref="Timeout"/> (it is then killed, with any process it started).
    /// </summary>
    public byte[] Run(CniCommand command, ReadOnlySpan<byte> stdin)
    {
        var psi = new ProcessStartInfo(Path)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment.Clear();
        foreach (var (key, value) in _environment) psi.Environment[key] = value;
        psi.Environment["CNI_COMMAND"] = CniCommands.Name(command);

        using (var process = Start(psi))
        {
            // All three pipes at once: a chatty plugin cannot block on a full stdout or stderr, and
            // one that never reads its stdin cannot block fathom on a config larger than the pipe.
            var stderrTask = process.StandardError.ReadToEndAsync();
            using var stdout = new MemoryStream();
            var stdoutTask = process.StandardOutput.BaseStream.CopyToAsync(stdout);
            var stdinTask = WriteAndCloseAsync(process.StandardInput.BaseStream, stdin.ToArray());

            var started = Stopwatch.GetTimestamp();
            if (!Task.WhenAll(stdinTask, stdoutTask, stderrTask).Wait(Timeout)
                || !process.WaitForExit(Remaining(started)))
                throw Abandon(command, process);

            var output = stdout.ToArray();
            if (process.ExitCode == 0) return output;
            throw DelegateError(command, process.ExitCode, output, stderrTask.Result);
        }
    }

    // ETXTBSY: someone holds the plugin's file open for writing — an installer copying a new
    // binary into CNI_PATH, or, for a file this process just wrote, a child forked meanwhile by
    // another thread that holds the inherited write fd until its own exec (O_CLOEXEC closes it
    // only then). Both pass; libcni's invoke.RawExec retries the same error (6 tries, 1 s apart).
    // Fathom's back-off is shorter (≈ 1.9 s in all) because it runs inside the runtime's own deadline.
    internal static readonly TimeSpan[] TextFileBusyBackoff =
    [
        TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100),
        TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1),
    ];

    /// <summary>Waits out one ETXTBSY back-off; tests replace it to act at that very moment.</summary>
    internal Action<TimeSpan> BackOff { get; set; } = Thread.Sleep;

    private Process Start(ProcessStartInfo psi)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return Process.Start(psi) ?? throw new InvalidOperationException("no process");
            }
            catch (System.ComponentModel.Win32Exception e) when ((Errno)e.NativeErrorCode == Errno.ETXTBSY && attempt < TextFileBusyBackoff.Length)
            {
                BackOff(TextFileBusyBackoff[attempt]);
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                throw new CniException(CniErrorCode.IpamFailure, $"cannot run plugin \"{Name}\" ({Path})", e.Message, e);
            }
        }
    }

    /// <summary>
    /// How long <see cref="Run"/> waits for the plugin. A hung IPAM plugin (host-local blocked on
    /// its lock, dhcp waiting for a daemon or a server that never answers) would otherwise hang
    /// fathom until the runtime kills it — leaving the plugin running, orphaned, and the runtime
    /// with no CNI error to show. The default, 90 s, leaves the dhcp plugin time to retry a slow
    /// server and still answers before kubelet gives up on the sandbox (its runtime request
    /// timeout is 2 minutes by default).
    /// </summary>
    public TimeSpan Timeout { get; }

    /// <summary>The default of <see cref="Timeout"/>.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    private TimeSpan Remaining(long started)
    {
        var left = Timeout - Stopwatch.GetElapsedTime(started);
        return left > TimeSpan.Zero ? left : TimeSpan.Zero;
    }

    private static async Task WriteAndCloseAsync(Stream stdin, byte[] bytes)
    {
        try
        {
            // ConfigureAwait(false) throughout: Run blocks on this task, so a continuation queued
            // to the caller's synchronization context (if it has one) would never run.
            await using (stdin.ConfigureAwait(false))
                await stdin.WriteAsync(bytes).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // The plugin exited without reading stdin (e.g. VERSION); its exit status says the rest.
        }
    }

    // Kills the plugin and whatever it started (they would hold its pipes open, and its locks),
    // and says so: the runtime sees which plugin hung and that nothing of it is left running.
    private CniException Abandon(CniCommand command, Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // It exited on its own meanwhile.
        }
        return new CniException(CniErrorCode.IpamFailure,
            $"plugin \"{Name}\" did not finish {CniCommands.Name(command)} within {Timeout.TotalSeconds:0.###} s and was killed",
            $"{Path} (pid {process.Id}) hung; if it waits for a lock or a server, check what holds it");
    }

    /// <summary>The versions the plugin reports for VERSION.</summary>
    public IReadOnlyList<string> SupportedVersions()
    {
        var output = Run(CniCommand.Version, """{"cniVersion":"1.1.0"}"""u8);
        try
        {
            if (CniJson.Parse(output) is JsonObject o
                && NetworkConfig.OptionalStringArray(o, "supportedVersions", code: CniErrorCode.IpamFailure) is { } versions)
                return versions;
        }
        catch (JsonException)
        {
        }
        throw new CniException(CniErrorCode.IpamFailure, $"plugin \"{Name}\" answered VERSION with no supportedVersions");
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private CniException DelegateError(CniCommand command, int exitCode, byte[] stdout, string stderr)
    {
        // A well-behaved plugin prints {code, msg, details} (CNI spec 1.1 §"Error"): pass its code on.
        try
        {
            if (stdout.Length > 0 && CniJson.Parse(stdout) is JsonObject o
                && o["code"] is JsonValue codeNode && codeNode.TryGetValue<int>(out var code))
            {
                var msg = o["msg"] is JsonValue m && m.GetValueKind() == JsonValueKind.String ? m.ToString() : "(no message)";
                var details = o["details"] is JsonValue d && d.GetValueKind() == JsonValueKind.String ? d.ToString() : null;
                // Spec codes (< 100) mean the same from any plugin and pass on; a delegate's own codes
                // (≥ 100, the Go library's 999) mean nothing as Fathom's, so they become 106 and stay in the text.
                var passOn = code is > 0 and < 100;
                return new CniException(passOn ? (CniErrorCode)code : CniErrorCode.IpamFailure,
                    $"plugin \"{Name}\" failed {CniCommands.Name(command)}: {msg}",
                    passOn ? NullIfEmpty(details) : $"its error code {code}" + (string.IsNullOrEmpty(details) ? "" : $": {details}"));
            }
        }
        catch (JsonException)
        {
        }
        var text = stderr.Trim();
        if (text.Length == 0) text = System.Text.Encoding.UTF8.GetString(stdout).Trim();
        if (text.Length > 500) text = text[..500] + "...";
        return new CniException(CniErrorCode.IpamFailure,
            $"plugin \"{Name}\" failed {CniCommands.Name(command)} with exit status {exitCode} and no CNI error",
            text.Length == 0 ? null : text);
    }
}
