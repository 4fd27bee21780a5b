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
        Assert.Equal(200, parse.GetValue(BenchCniCommand.Cycles));
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
    /// Ctrl-C (SIGINT to fathomctl alone, as a terminal's would reach it first) stops bench cni
    /// after the cycle in progress; it prints the table of the cycles it measured and exits 130,
    /// rather than throwing them away.
    /// </summary>
    [PrivilegedFact("ip", "kill", "/usr/lib/cni/host-device", "/usr/lib/cni/static")]
    public void AnInterruptedCniBenchReportsWhatItMeasured()
    {
        Privileged.Require("ip", "kill", "/usr/lib/cni/host-device", "/usr/lib/cni/static");
        var plugin = Repository.Plugin;
        Assert.True(File.Exists(plugin), $"fathom plugin not found at {plugin}: run ./build.sh, or publish your own copy and set FATHOM_PLUGIN");
        var psi = new ProcessStartInfo(CtlRun.Dotnet)
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "fathomctl.dll"), "bench", "cni", "--cycles", "100000", "--plugin", plugin },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var bench = Process.Start(psi)!;
        var stdout = new StringBuilder();
        var measuring = new ManualResetEventSlim();
        bench.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stdout) stdout.AppendLine(e.Data);
            if (e.Data.StartsWith("  host-device ", StringComparison.Ordinal)) measuring.Set();
        };
        bench.BeginOutputReadLine();
        var stderr = bench.StandardError.ReadToEndAsync();
        try
        {
            Assert.True(measuring.Wait(TimeSpan.FromSeconds(30)), "bench cni did not start measuring");
            // Past the 5 warm-up cycles into the measured ones: a cycle of both plugins is ~0.1 s,
            // ten times that on a loaded 2-core machine.
            Thread.Sleep(TimeSpan.FromSeconds(8));
            Shell.Run("kill", ["-INT", bench.Id.ToString(CultureInfo.InvariantCulture)]).EnsureSuccess("kill -INT");
            Assert.True(bench.WaitForExit(TimeSpan.FromSeconds(30)), "bench cni did not stop on SIGINT");
        }
        finally
        {
            if (!bench.HasExited) bench.Kill();
        }
        bench.WaitForExit();
        Assert.Equal(130, bench.ExitCode);
        Assert.Matches(@"^fathomctl bench cni: interrupted after [1-9]\d* of 100000 cycles", stderr.Result);
        string output;
        lock (stdout) output = stdout.ToString();
        Assert.Matches(@"\nADD\+DEL +\d+\.\d\d", output);
        Assert.Contains("target: ADD+DEL cycle", output);
    }
}
