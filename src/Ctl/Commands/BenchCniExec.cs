using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Fathom.Ctl;

/// <summary>
/// One CNI plugin run as a runtime runs it, timed: a new process with the CNI_* environment and the
/// config on stdin, forked from the calling thread — so it starts in that thread's network
/// namespace (the bench's host namespace, or a lab node's). Returns the wall time from start to
/// exit; a plugin that fails throws with what it printed.
/// </summary>
internal static partial class BenchCniExec
{
    /// <summary>
    /// CPU time (user + system, ms) of every child process reaped so far (getrusage(2), RUSAGE_CHILDREN):
    /// around one plugin run with no other child exiting, what that run cost the machine's cores.
    /// </summary>
    public static unsafe double ChildrenCpuMs()
    {
        // struct rusage: ru_utime and ru_stime (struct timeval each), then 14 longs.
        var usage = stackalloc long[18];
        if (GetRusage(-1 /* RUSAGE_CHILDREN */, usage) != 0)
            throw new InvalidOperationException($"getrusage failed: errno {Marshal.GetLastPInvokeError()}");
        return (usage[0] + usage[2]) * 1000.0 + (usage[1] + usage[3]) / 1000.0;
    }

    [LibraryImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static unsafe partial int GetRusage(int who, long* usage);

    /// <summary>Where the reference plugins (host-device, bridge, host-local, static) are installed.</summary>
    public const string ReferenceDir = "/usr/lib/cni";

    /// <summary>How long one plugin run may take before the bench gives up on it.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="plugin"/> once; the wall time in ms.</summary>
    public static double Run(string plugin, string name, string command, string containerId, string netnsPath, byte[] config) =>
        RunForResult(plugin, name, command, containerId, netnsPath, config).Ms;

    /// <summary>Runs <paramref name="plugin"/> once; the wall time in ms and what it printed (its result).</summary>
    /// <param name="plugin">The plugin binary.</param>
    /// <param name="name">Who runs, for the error message.</param>
    /// <param name="command">CNI_COMMAND.</param>
    /// <param name="containerId">CNI_CONTAINERID.</param>
    /// <param name="netnsPath">CNI_NETNS.</param>
    /// <param name="config">The network config, on stdin.</param>
    public static (double Ms, string Result) RunForResult(string plugin, string name, string command, string containerId, string netnsPath, byte[] config)
    {
        var psi = new ProcessStartInfo(plugin)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = containerId;
        psi.Environment["CNI_NETNS"] = netnsPath;
        psi.Environment["CNI_IFNAME"] = "eth0";
        psi.Environment["CNI_PATH"] = ReferenceDir; // the IPAM plugins (static, host-local), the same for every contender
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {plugin}");
        // Once read, the pipes are ours to close (Process.Dispose leaves streams the caller took):
        // without this every run leaks two descriptors.
        using var stdoutPipe = process.StandardOutput;
        using var stderrPipe = process.StandardError;
        var stderr = stderrPipe.ReadToEndAsync();
        try
        {
            process.StandardInput.BaseStream.Write(config);
            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // A plugin may exit without reading stdin (VERSION needs none): not a failure.
        }
        var stdout = stdoutPipe.ReadToEndAsync();
        if (!process.WaitForExit(Timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new InvalidOperationException($"{name} {command} did not finish within {Timeout.TotalSeconds:0} s");
        }
        process.WaitForExit();
        var elapsed = clock.Elapsed.TotalMilliseconds;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{name} {command} failed (exit {process.ExitCode}): {stdout.Result.Trim()} {stderr.Result.Trim()}");
        return (elapsed, stdout.Result);
    }
}
