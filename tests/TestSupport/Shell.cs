using System.Diagnostics;

namespace Fathom.Testing;

/// <summary>Runs system tools (iproute2, podman, ...) the way an operator would, for cross-checks.</summary>
public static class Shell
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public Result EnsureSuccess(string what)
        {
            if (ExitCode != 0)
                throw new InvalidOperationException($"{what} exited {ExitCode}: {Stderr.Trim()} {Stdout.Trim()}");
            return this;
        }
    }

    /// <summary>
    /// Runs a program with arguments (no shell), optional stdin and environment (added to the
    /// test's, or alone with <paramref name="clearEnvironment"/>), with a time-out.
    /// </summary>
    public static Result Run(string file, IEnumerable<string> args, string? stdin = null,
        IReadOnlyDictionary<string, string>? env = null, TimeSpan? timeout = null, bool clearEnvironment = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (clearEnvironment) psi.Environment.Clear();
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        // Process.Dispose leaves the redirected streams open: close the pipes with the readers.
        using var outReader = p.StandardOutput;
        using var errReader = p.StandardError;
        var stdout = outReader.ReadToEndAsync();
        var stderr = errReader.ReadToEndAsync();
        try
        {
            if (stdin is not null) p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        catch (IOException)
        {
            // The program exited without reading all of stdin (a CNI plugin answering VERSION, an early refusal).
        }
        if (!p.WaitForExit(timeout ?? TimeSpan.FromSeconds(60)))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in time");
        }
        p.WaitForExit();
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs <c>ip</c> with the given arguments; throws on failure.</summary>
    public static string Ip(params string[] args) => Run("ip", args).EnsureSuccess("ip " + string.Join(' ', args)).Stdout;

    /// <summary>Runs <c>ip -n NETNS ...</c>; throws on failure.</summary>
    public static string IpIn(string netns, params string[] args) => Ip(["-n", netns, .. args]);

    /// <summary>Runs a command inside a named netns (ip netns exec).</summary>
    public static Result Exec(string netns, string file, params string[] args) =>
        Run("ip", ["netns", "exec", netns, file, .. args]);
}
