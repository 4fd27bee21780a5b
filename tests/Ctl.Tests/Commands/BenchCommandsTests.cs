using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Fathom.Ctl.Tests.Commands;

/// <summary>The parse of <c>bench netlink|cni</c>, and their refusal to run without root.</summary>
public sealed class BenchCommandsTests
{
    [Fact]
    public void NetlinkTakesCyclesAndANetns()
    {
        var parse = CtlRun.Parse("bench", "netlink");
        Assert.Empty(parse.Errors);
        Assert.Equal((500, null), (parse.GetValue(BenchNetlinkCommand.Cycles), parse.GetValue(BenchNetlinkCommand.PodNetns)));

        parse = CtlRun.Parse("bench", "netlink", "--cycles", "20", "--netns", "mypod");
        Assert.Empty(parse.Errors);
        Assert.Equal((20, "mypod"), (parse.GetValue(BenchNetlinkCommand.Cycles), parse.GetValue(BenchNetlinkCommand.PodNetns)));
    }

    [Fact]
    public void CniTakesCyclesAndThePlugins()
    {
        var parse = CtlRun.Parse("bench", "cni");
        Assert.Empty(parse.Errors);
        Assert.Equal(50, parse.GetValue(BenchCniCommand.Cycles));
        Assert.Equal(Path.Combine(AppContext.BaseDirectory, "fathom"), BenchCniCommand.PluginPath(parse));
        Assert.Equal("/usr/lib/cni/host-device", BenchCniCommand.ReferencePath(parse));

        parse = CtlRun.Parse("bench", "cni", "--cycles", "3", "--plugin", "artifacts/bin/fathom", "--reference", "/opt/cni/bin/host-device");
        Assert.Empty(parse.Errors);
        Assert.Equal(3, parse.GetValue(BenchCniCommand.Cycles));
        Assert.Equal(Path.GetFullPath("artifacts/bin/fathom"), BenchCniCommand.PluginPath(parse));
        Assert.Equal("/opt/cni/bin/host-device", BenchCniCommand.ReferencePath(parse));
    }

    /// <summary>Without root both benchmarks refuse with one clear line and exit 1, before they create anything.</summary>
    [PrivilegedFact("setpriv")]
    public void WithoutRootTheBenchmarksRefuse()
    {
        Privileged.Require("setpriv");
        foreach (var bench in new[] { "netlink", "cni" })
        {
            // As nobody: setpriv drops root for the one process.
            var result = Shell.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", CtlRun.Dotnet,
                Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "bench", bench, "--cycles", "1"],
                env: new Dictionary<string, string> { ["HOME"] = Path.GetTempPath() });
            Assert.Equal(1, result.ExitCode);
            Assert.Equal($"fathomctl bench {bench}: needs root", result.Stderr[..$"fathomctl bench {bench}: needs root".Length]);
            Assert.Equal("", result.Stdout);
        }
    }

    /// <summary>
    /// Ctrl-C stops a benchmark after the cycle in progress: it prints the table of the cycles
    /// it measured and exits 130, rather than throwing them away. SIGINT goes to the whole
    /// process group, as a terminal sends it, so the ip or plugin running at that moment dies of
    /// it too. SIGTERM (kill, timeout) is taken the same way.
    /// </summary>
    [PrivilegedTheory("ip", "kill", "setsid", "/usr/lib/cni/host-device", "/usr/lib/cni/static")]
    [InlineData("netlink", "INT", @"^$", @"\ncycle median +\d+\.\d{3} ")]
    [InlineData("cni", "INT", @"^fathomctl bench cni: interrupted after [1-9]\d* of 100000 cycles", @"\nADD\+DEL +\d+\.\d\d ")]
    [InlineData("cni", "TERM", @"^fathomctl bench cni: interrupted after [1-9]\d* of 100000 cycles", @"\nADD\+DEL +\d+\.\d\d ")]
    public void AnInterruptedBenchmarkReportsWhatItMeasured(string bench, string signal, string stderrPattern, string tablePattern)
    {
        Privileged.Require("ip", "kill", "setsid", "/usr/lib/cni/host-device", "/usr/lib/cni/static");
        var plugin = Repository.Plugin;
        if (bench == "cni")
            Assert.True(File.Exists(plugin), $"fathom plugin not found at {plugin}: run ./build.sh, or publish your own copy and set FATHOM_PLUGIN");
        // setsid: a process group of its own (its pid), like a shell's foreground job.
        var psi = new ProcessStartInfo("setsid")
        {
            ArgumentList = { CtlRun.Dotnet, Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "bench", bench, "--cycles", "100000" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (bench == "cni") foreach (var a in new[] { "--plugin", plugin }) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var measuring = new ManualResetEventSlim();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            // The last line of the header, printed just before the warm-up.
            if (e.Data.StartsWith("  ", StringComparison.Ordinal)) measuring.Set();
        };
        process.BeginOutputReadLine();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            Assert.True(measuring.Wait(TimeSpan.FromSeconds(30)), $"bench {bench} did not start measuring");
            // Past the warm-up into the measured cycles: a cycle is ~0.1 s, ten times that on a
            // loaded 2-core machine.
            Thread.Sleep(TimeSpan.FromSeconds(8));
            Shell.Run("kill", ["-" + signal, "--", "-" + process.Id.ToString(CultureInfo.InvariantCulture)]).EnsureSuccess("kill -" + signal);
            Assert.True(process.WaitForExit(TimeSpan.FromSeconds(30)), $"bench {bench} did not stop on SIG{signal}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        process.WaitForExit();
        string output;
        lock (stdout) output = stdout.ToString();
        Assert.True(process.ExitCode == 130, $"exit {process.ExitCode}: {stderr.Result} {output}");
        Assert.Matches(stderrPattern, stderr.Result);
        Assert.Matches(tablePattern, output);
        Assert.Contains("target", output);
    }
}
