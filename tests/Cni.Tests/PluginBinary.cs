using System.Diagnostics;

namespace Fathom.Cni.Tests;

/// <summary>
/// The published AOT plugin, run the way a runtime runs it: a clean environment with the CNI_*
/// variables, the config on stdin, the result or error on stdout, the exit status.
/// </summary>
internal static class PluginBinary
{
    /// <summary>See <see cref="Repository.Plugin"/>.</summary>
    public static string Path => Repository.Plugin;

    public static void RequireBuilt() =>
        Assert.True(File.Exists(Path), $"the plugin binary {Path} does not exist: run ./build.sh, or set FATHOM_PLUGIN to a published fathom");

    /// <summary>Runs the plugin (inside <paramref name="netns"/> via <c>ip netns exec</c> when given).</summary>
    public static (PluginOutput Output, string Stderr) RunWithStderr(IReadOnlyDictionary<string, string> env, string stdin, string? netns = null)
    {
        RequireBuilt();
        var psi = new ProcessStartInfo(netns is null ? Path : "ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (netns is not null)
            foreach (var a in (string[])["netns", "exec", netns, Path]) psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin";
        foreach (var (k, v) in env) psi.Environment[k] = v;

        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // VERSION and early failures exit without reading stdin.
        }
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("the plugin did not finish in 60 s");
        }
        return (new PluginOutput(p.ExitCode, stdout.Result), stderr.Result);
    }

    public static PluginOutput Run(IReadOnlyDictionary<string, string> env, string stdin, string? netns = null) =>
        RunWithStderr(env, stdin, netns).Output;
}
