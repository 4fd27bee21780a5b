using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Cni;

/// <summary>
/// Another CNI plugin found on CNI_PATH and run the way a runtime runs one (reference
/// pkg/invoke): the caller's environment with CNI_COMMAND set, the config on stdin, a result
/// or a CNI error on stdout.
/// </summary>
public sealed class DelegatedPlugin
{
    private readonly IReadOnlyDictionary<string, string> _environment;

    private DelegatedPlugin(string name, string path, IReadOnlyDictionary<string, string> environment)
    {
        Name = name;
        Path = path;
        _environment = environment;
    }

    /// <summary>The plugin's type (its file name).</summary>
    public string Name { get; }

    /// <summary>Where it was found.</summary>
    public string Path { get; }

    /// <summary>
    /// Finds <paramref name="name"/> in the first directory of <paramref name="cniPath"/> that has it
    /// (reference invoke.FindInPath); error 105 naming the directories searched when none does.
    /// </summary>
    public static DelegatedPlugin Find(string name, IReadOnlyList<string> cniPath, IReadOnlyDictionary<string, string> environment)
    {
        if (cniPath.Count == 0)
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_PATH is empty: cannot find plugin \"{name}\"");
        foreach (var dir in cniPath)
        {
            if (dir.Length == 0) continue;
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate)) return new DelegatedPlugin(name, candidate, environment);
        }
        throw new CniException(CniErrorCode.IpamPluginNotFound, $"failed to find plugin \"{name}\" in CNI_PATH",
            $"searched [{string.Join(", ", cniPath)}]");
    }

    /// <summary>
    /// Runs the plugin for <paramref name="command"/> with <paramref name="stdin"/>. Returns its
    /// stdout on success; throws the plugin's own CNI error (its code, the message prefixed with
    /// the plugin's name) or error 106 when it failed without one.
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

        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new CniException(CniErrorCode.IpamFailure, $"cannot run plugin \"{Name}\" ({Path})", e.Message, e);
        }

        using (process)
        {
            // Read both pipes concurrently so a chatty plugin cannot block on a full pipe.
            var stderrTask = process.StandardError.ReadToEndAsync();
            using var stdout = new MemoryStream();
            var stdoutTask = process.StandardOutput.BaseStream.CopyToAsync(stdout);
            try
            {
                process.StandardInput.BaseStream.Write(stdin);
                process.StandardInput.Close();
            }
            catch (IOException)
            {
                // The plugin exited without reading stdin (e.g. VERSION); its exit status says the rest.
            }
            stdoutTask.GetAwaiter().GetResult();
            var stderr = stderrTask.GetAwaiter().GetResult();
            process.WaitForExit();

            var output = stdout.ToArray();
            if (process.ExitCode == 0) return output;
            throw DelegateError(command, process.ExitCode, output, stderr);
        }
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
                var msg = o["msg"] is JsonValue m && m.GetValueKind() == JsonValueKind.String ? m.GetValue<string>() : "(no message)";
                var details = o["details"] is JsonValue d && d.GetValueKind() == JsonValueKind.String ? d.GetValue<string>() : null;
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
