using System.Diagnostics;

namespace Fathom.Cni.Tests;

/// <summary>
/// The published AOT plugin, run the way a runtime runs it: a clean environment with the
/// CNI_* variables, the config on stdin, the result or error on stdout, the exit status.
/// Found through FATHOM_PLUGIN, else &lt;repo&gt;/artifacts/bin/fathom (./build.sh makes it before ./test.sh runs).
/// </summary>
internal static class PluginBinary
{
    public static string Path { get; } = Locate();

    private static string Locate()
    {
        if (Environment.GetEnvironmentVariable("FATHOM_PLUGIN") is { Length: > 0 } path) return path;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Fathom.slnx")))
                return System.IO.Path.Combine(dir.FullName, "artifacts", "bin", "fathom");
        // Tests built outside the tree (--artifacts-path): the working directory is usually the repo.
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Fathom.slnx")))
                return System.IO.Path.Combine(dir.FullName, "artifacts", "bin", "fathom");
        return "artifacts/bin/fathom";
    }

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
