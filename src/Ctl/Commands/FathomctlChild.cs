using System.Diagnostics;
using Fathom.Lab;

namespace Fathom.Ctl;

/// <summary>
/// This fathomctl — its apphost, or <c>dotnet fathomctl.dll</c> — run again as a child on one lab:
/// the benches drive their lab with the commands an operator types, not with the lab's internals.
/// </summary>
internal static class FathomctlChild
{
    /// <summary>Runs <c>fathomctl ARGS</c> with <see cref="LabLayout.PrefixVariable"/> set to <paramref name="labPrefix"/>; throws with its output when it fails.</summary>
    public static void Run(string labPrefix, params string[] args)
    {
        var self = Environment.ProcessPath ?? "fathomctl";
        string[] argv = Path.GetFileNameWithoutExtension(self) == "dotnet" ? [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), .. args] : args;
        var psi = new ProcessStartInfo(self) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in argv) psi.ArgumentList.Add(a);
        psi.Environment[LabLayout.PrefixVariable] = labPrefix;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {self}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"fathomctl {string.Join(' ', args)} (lab '{labPrefix}'): exit {p.ExitCode}: {stderr.Trim()} {stdout.Result.Trim()}");
    }
}
