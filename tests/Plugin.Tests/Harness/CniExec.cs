using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Fathom.Plugin.Tests.Harness;

/// <summary>The environment a runtime gives one plugin call (CNI spec §"Parameters").</summary>
internal sealed record CniCall(
    string Command,
    string ContainerId,
    string? NetnsPath,
    string IfName,
    string CniPath,
    string? Args = null)
{
    public Dictionary<string, string> Environment()
    {
        var env = new Dictionary<string, string>
        {
            ["CNI_COMMAND"] = Command,
            ["CNI_CONTAINERID"] = ContainerId,
            ["CNI_IFNAME"] = IfName,
            ["CNI_PATH"] = CniPath,
            // Set but empty, as libcni does for DEL without a netns: a plugin must treat "" as absent.
            ["CNI_NETNS"] = NetnsPath ?? "",
        };
        if (Args is not null) env["CNI_ARGS"] = Args;
        return env;
    }

    public CniCall With(string command) => this with { Command = command };

    /// <summary>The environment of a call for container "ctr-1" into a netns that does not exist (refusals, VERSION, GC).</summary>
    public static Dictionary<string, string> Env(string command, string ifName = "eth0") =>
        new CniCall(command, "ctr-1", "/var/run/netns/ftest-cni-none", ifName, "/usr/lib/cni").Environment();
}

/// <summary>What one plugin process did: exit code, stdout parsed as JSON when it is JSON, stderr.</summary>
internal sealed record CniOutcome(string Plugin, CniCall Call, int ExitCode, string Stdout, string Stderr)
{
    public JsonObject? Json { get; } = TryParse(Stdout);

    public bool Succeeded => ExitCode == 0;

    /// <summary>The spec's error code (from the error JSON on stdout), or null on success.</summary>
    public int? ErrorCode => Succeeded ? null : (int?)Json?["code"];

    public string ErrorMessage => Succeeded ? "" : $"{Json?["msg"]} {Json?["details"]}".Trim();

    /// <summary>stdout as a JSON object (a result or an error); fails the test when it is not one.</summary>
    public JsonObject Body => Json ?? throw new Xunit.Sdk.XunitException($"stdout is not a JSON object: {this}");

    /// <summary>The result JSON of a successful call; fails the test with the plugin's own words otherwise.</summary>
    public JsonObject Result =>
        Succeeded && Json is not null
            ? Json
            : throw new Xunit.Sdk.XunitException($"{System.IO.Path.GetFileName(Plugin)} {Call.Command} failed (exit {ExitCode}): {Stdout.Trim()} {Stderr.Trim()}");

    public CniOutcome EnsureSuccess()
    {
        if (!Succeeded)
            throw new Xunit.Sdk.XunitException($"{System.IO.Path.GetFileName(Plugin)} {Call.Command} failed (exit {ExitCode}): {Stdout.Trim()} {Stderr.Trim()}");
        return this;
    }

    public override string ToString() =>
        $"{System.IO.Path.GetFileName(Plugin)} {Call.Command} exit {ExitCode}: {Stdout.Trim()} {Stderr.Trim()}".Trim();

    private static JsonObject? TryParse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        try { return JsonNode.Parse(text) as JsonObject; }
        catch (System.Text.Json.JsonException) { return null; }
    }
}

/// <summary>
/// The one harness that runs a CNI plugin binary exactly as a runtime does: a fresh process with
/// a clean environment holding the CNI_* variables, the network config on stdin, the result (or
/// error) as JSON on stdout, the exit status. With a host netns the process runs inside it
/// (<c>ip netns exec</c>), so the plugin's "host" is a test namespace, never the machine's root
/// namespace; without one it runs where the test runs (refusals that touch nothing, VERSION).
/// </summary>
internal static class CniExec
{
    /// <summary>The published fathom (see <see cref="Repository.Plugin"/>).</summary>
    public static string Fathom => Repository.Plugin;

    public static void RequireBuilt() =>
        Assert.True(File.Exists(Fathom), $"the plugin binary {Fathom} does not exist: run ./build.sh, or set FATHOM_PLUGIN to a published fathom");

    /// <summary>Runs <paramref name="plugin"/> with <paramref name="env"/> and <paramref name="stdin"/>, in <paramref name="hostNetns"/> when given.</summary>
    /// With <paramref name="clearEnvironment"/> the plugin sees nothing of the test's environment, as
    /// with a runtime that passes only the CNI_* variables and PATH.
    public static CniOutcome Run(string? hostNetns, string plugin, IReadOnlyDictionary<string, string> env, string stdin,
        bool clearEnvironment = true)
    {
        if (plugin == Fathom) RequireBuilt();
        var environment = new Dictionary<string, string>(env);
        if (clearEnvironment) environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        var r = hostNetns is null
            ? Shell.Run(plugin, [], stdin: stdin, env: environment, timeout: TimeSpan.FromSeconds(60), clearEnvironment: clearEnvironment)
            : Shell.Run("ip", ["netns", "exec", hostNetns, plugin], stdin: stdin, env: environment,
                timeout: TimeSpan.FromSeconds(60), clearEnvironment: clearEnvironment);
        var call = new CniCall(env.GetValueOrDefault("CNI_COMMAND", ""), env.GetValueOrDefault("CNI_CONTAINERID", ""),
            env.GetValueOrDefault("CNI_NETNS"), env.GetValueOrDefault("CNI_IFNAME", ""), env.GetValueOrDefault("CNI_PATH", ""),
            env.GetValueOrDefault("CNI_ARGS"));
        return new CniOutcome(plugin, call, r.ExitCode, r.Stdout, r.Stderr);
    }

    /// <summary>Runs the published fathom with <paramref name="env"/> and <paramref name="stdin"/>, in <paramref name="hostNetns"/> when given.</summary>
    public static CniOutcome Run(IReadOnlyDictionary<string, string> env, string stdin, string? hostNetns = null) =>
        Run(hostNetns, Fathom, env, stdin);

    /// <summary>One call of a scenario: the test's environment plus the call's CNI_* variables.</summary>
    public static CniOutcome Run(string hostNetns, string plugin, CniCall call, string config) =>
        Run(hostNetns, plugin, call.Environment(), config, clearEnvironment: false);

    public static CniOutcome Run(string hostNetns, string plugin, CniCall call, JsonObject config) =>
        Run(hostNetns, plugin, call, config.ToJsonString());

    /// <summary>
    /// Runs the published fathom with raw bytes on stdin (a config that is not valid UTF-8 has no
    /// string form) and only <paramref name="env"/> (plus PATH) in its environment, in
    /// <paramref name="hostNetns"/> when given. A run that outlives <paramref name="timeout"/> is
    /// killed and reported with exit code -1, so a hang is a result a test can assert on.
    /// </summary>
    public static CniOutcome RunBytes(IReadOnlyDictionary<string, string> env, byte[] stdin, string? hostNetns = null, TimeSpan? timeout = null)
    {
        RequireBuilt();
        var psi = hostNetns is null ? new ProcessStartInfo(Fathom) : new ProcessStartInfo("ip") { ArgumentList = { "netns", "exec", hostNetns, Fathom } };
        psi.RedirectStandardInput = psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.UseShellExecute = false;
        psi.Environment.Clear();
        foreach (var (k, v) in env) psi.Environment[k] = v;
        psi.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {Fathom}");
        using var outReader = p.StandardOutput;
        using var errReader = p.StandardError;
        var stdout = outReader.ReadToEndAsync();
        var stderr = errReader.ReadToEndAsync();
        try
        {
            p.StandardInput.BaseStream.Write(stdin);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // Exited before reading it all (an early refusal).
        }
        var exit = -1;
        if (p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            p.WaitForExit();
            exit = p.ExitCode;
        }
        else
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
        }
        var call = new CniCall(env.GetValueOrDefault("CNI_COMMAND", ""), env.GetValueOrDefault("CNI_CONTAINERID", ""),
            env.GetValueOrDefault("CNI_NETNS"), env.GetValueOrDefault("CNI_IFNAME", ""), env.GetValueOrDefault("CNI_PATH", ""),
            env.GetValueOrDefault("CNI_ARGS"));
        return new CniOutcome(Fathom, call, exit, stdout.Result, stderr.Result);
    }
}
