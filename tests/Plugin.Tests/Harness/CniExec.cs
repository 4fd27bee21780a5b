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
}

/// <summary>What one plugin process did: exit code, stdout parsed as JSON when it is JSON, stderr.</summary>
internal sealed record CniOutcome(string Plugin, CniCall Call, int ExitCode, string Stdout, string Stderr)
{
    public JsonObject? Json { get; } = TryParse(Stdout);

    public bool Succeeded => ExitCode == 0;

    /// <summary>The spec's error code (from the error JSON on stdout), or null on success.</summary>
    public int? ErrorCode => Succeeded ? null : (int?)Json?["code"];

    public string ErrorMessage => Succeeded ? "" : $"{Json?["msg"]} {Json?["details"]}".Trim();

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
/// Runs a CNI plugin binary exactly as a runtime does: a fresh process with the CNI_* environment,
/// the network config on stdin, the result (or error) as JSON on stdout. The process runs inside
/// <paramref name="hostNetns"/> (<c>ip netns exec</c>), so the plugin's "host" is a test namespace,
/// never the machine's root namespace.
/// </summary>
internal static class CniExec
{
    public static CniOutcome Run(string hostNetns, string plugin, CniCall call, string config)
    {
        var r = Shell.Run("ip", ["netns", "exec", hostNetns, plugin], stdin: config, env: call.Environment(),
            timeout: TimeSpan.FromSeconds(60));
        return new CniOutcome(plugin, call, r.ExitCode, r.Stdout, r.Stderr);
    }

    public static CniOutcome Run(string hostNetns, string plugin, CniCall call, JsonObject config) =>
        Run(hostNetns, plugin, call, config.ToJsonString());
}
