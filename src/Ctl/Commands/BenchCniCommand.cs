using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl bench cni [--cycles N] [--plugin PATH] [--reference PATH]</c>: full ADD+DEL
/// cycles of the <c>fathom</c> plugin (underlay mode) and of the reference <c>host-device</c>
/// plugin, same static IPAM, same machine, interleaved cycle by cycle; and process start
/// (VERSION) of both (issue 3 §5; docs/benchmarks.md, section CNI).
/// </summary>
/// <remarks>
/// Each plugin runs as a runtime runs it: a new process with the CNI_* environment and the
/// config on stdin. The processes are started from a thread inside a temporary "host"
/// namespace (a forked child inherits the namespace of the thread that forks), so nothing
/// touches the root namespace and no <c>ip netns exec</c> or <c>nsenter</c> is timed. Each
/// plugin has its own veth end to hand out and its own temporary pod namespace; all three
/// namespaces are deleted at the end, also on failure or Ctrl-C.
/// </remarks>
internal static class BenchCniCommand
{
    private const string ReferenceDir = "/usr/lib/cni";
    private const string SpecVersion = "1.0.0"; // the newest version Debian's host-device (1.1.1) speaks
    private const int WarmupCycles = 5;
    private const int VersionRuns = 200;

    private sealed record Contender(string Name, string Plugin, string Type, string Device, string PodNetns, string DataDir)
    {
        public List<double> Add { get; } = [];
        public List<double> Del { get; } = [];
        public List<double> Cycle { get; } = [];
        public List<double> Version { get; } = [];

        public byte[] Config => Encoding.UTF8.GetBytes(
            $$$"""
            {"cniVersion":"{{{SpecVersion}}}","name":"fathom-bench","type":"{{{Type}}}","mode":"underlay","device":"{{{Device}}}","dataDir":"{{{DataDir}}}",
             "ipam":{"type":"static","addresses":[{"address":"198.18.0.2/24","gateway":"198.18.0.1"}],"routes":[{"dst":"0.0.0.0/0"}]}}
            """);
    }

    internal static readonly Option<int> Cycles = NumberOptions.Count("--cycles", "How many measured ADD+DEL cycles per plugin.", 200);

    internal static readonly Option<string> Plugin = new("--plugin")
    {
        Description = "The fathom plugin to run (default: fathom beside fathomctl).",
        HelpName = "PATH",
    };

    internal static readonly Option<string> Reference = new("--reference")
    {
        Description = $"The reference plugin to compare with (default: {ReferenceDir}/host-device).",
        HelpName = "PATH",
    };

    public static Command Create()
    {
        var command = new Command("cni", "Full ADD+DEL cycles of fathom (underlay) and of the reference host-device plugin, interleaved, and their process start (VERSION).")
        {
            Cycles, Plugin, Reference,
        };
        command.SetAction(parse => Run(parse.GetValue(Cycles), PluginPath(parse), ReferencePath(parse)));
        return command;
    }

    internal static string PluginPath(ParseResult parse) =>
        Path.GetFullPath(parse.GetValue(Plugin) ?? Path.Combine(AppContext.BaseDirectory, "fathom"));

    internal static string ReferencePath(ParseResult parse) =>
        Path.GetFullPath(parse.GetValue(Reference) ?? Path.Combine(ReferenceDir, "host-device"));

    private static int Run(int cycles, string plugin, string reference)
    {
        if (!Environment.IsPrivilegedProcess)
            throw new InvalidOperationException("needs root: it creates namespaces and veth pairs and runs plugins in them (sudo fathomctl bench cni)");
        if (!File.Exists(plugin))
            throw new InvalidOperationException($"fathom plugin not found at {plugin}: run ./build.sh, or pass --plugin PATH");
        if (!File.Exists(reference))
            throw new InvalidOperationException($"reference plugin not found at {reference}: install containernetworking-plugins (scripts/prereqs.sh)");
        using var scratch = new BenchScratch();
        // fathom's attachment records (written and fsynced on every ADD, as in production) go to a
        // scratch folder on the same disk, removed afterwards.
        var records = scratch.CreateDirectory("-records");
        var fathom = new Contender("fathom", plugin, "fathom", "bench-f", scratch.NameFor("-pod-f"), records);
        var hostDevice = new Contender("host-device", reference, "host-device", "bench-r", scratch.NameFor("-pod-r"), records);
        using var host = scratch.CreateNetns("-host");
        scratch.CreateNetns("-pod-f").Dispose();
        scratch.CreateNetns("-pod-r").Dispose();
        using (var links = NetlinkHandle.OpenIn(host))
        {
            // The devices to hand out: veth ends whose peers stay in the host namespace.
            links.CreateVeth(fathom.Device, fathom.Device + "p");
            links.CreateVeth(hostDevice.Device, hostDevice.Device + "p");
        }

        Console.WriteLine($"fathomctl bench cni: {cycles} ADD+DEL cycles each, interleaved; static IPAM; spec {SpecVersion}");
        Console.WriteLine($"  fathom      {plugin}");
        Console.WriteLine($"  host-device {reference}");
        Netns.Run(host, () =>
        {
            try
            {
                Measure(fathom, hostDevice, cycles, scratch);
            }
            catch (InvalidOperationException) when (scratch.InterruptedJustNow())
            {
                // Ctrl-C reaches the plugin running in the foreground too (same process group),
                // which then fails: the interrupt, not a failure of the plugin.
            }
        });
        if (!scratch.Interrupted)
        {
            Report(fathom, hostDevice);
            return 0;
        }
        // Ctrl-C: report what was measured, as bench netlink does, rather than throw it away.
        var measured = Math.Min(fathom.Cycle.Count, hostDevice.Cycle.Count);
        Console.Error.WriteLine($"fathomctl bench cni: interrupted after {measured} of {cycles} cycles and {Math.Min(fathom.Version.Count, hostDevice.Version.Count)} of {VersionRuns} VERSION runs");
        if (fathom.Cycle.Count > 0 && hostDevice.Cycle.Count > 0) Report(fathom, hostDevice);
        return 130;
    }

    /// <summary>Warm-up, then the measured cycles, then the VERSION runs; stops early on Ctrl-C, keeping what it measured.</summary>
    private static void Measure(Contender fathom, Contender hostDevice, int cycles, BenchScratch scratch)
    {
        for (var i = 0; i < WarmupCycles && !scratch.Interrupted; i++)
        {
            Cycle(fathom, record: false);
            Cycle(hostDevice, record: false);
        }
        for (var i = 0; i < cycles && !scratch.Interrupted; i++)
        {
            // Alternate who goes first, so neither always runs on a cache the other warmed.
            var (first, second) = i % 2 == 0 ? (fathom, hostDevice) : (hostDevice, fathom);
            Cycle(first, record: true);
            Cycle(second, record: true);
        }
        var versionConfig = Encoding.UTF8.GetBytes($$"""{"cniVersion":"{{SpecVersion}}"}""");
        for (var i = 0; i < VersionRuns && !scratch.Interrupted; i++)
        {
            fathom.Version.Add(Exec(fathom, "VERSION", versionConfig));
            hostDevice.Version.Add(Exec(hostDevice, "VERSION", versionConfig));
        }
    }

    /// <summary>One ADD then DEL through one plugin; times in milliseconds.</summary>
    private static void Cycle(Contender c, bool record)
    {
        var config = c.Config;
        var add = Exec(c, "ADD", config);
        var del = Exec(c, "DEL", config);
        if (!record) return;
        c.Add.Add(add);
        c.Del.Add(del);
        c.Cycle.Add(add + del);
    }

    /// <summary>Runs the plugin once as a runtime does and returns the wall time from start to exit, in ms.</summary>
    private static double Exec(Contender c, string command, byte[] config)
    {
        var psi = new ProcessStartInfo(c.Plugin)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = "fathom-bench";
        psi.Environment["CNI_NETNS"] = Path.Combine(Netns.RunDirectory, c.PodNetns);
        psi.Environment["CNI_IFNAME"] = "eth0";
        psi.Environment["CNI_PATH"] = ReferenceDir; // the static IPAM plugin, the same for both
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {c.Plugin}");
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
        var stdout = stdoutPipe.ReadToEnd();
        process.WaitForExit();
        var elapsed = clock.Elapsed.TotalMilliseconds;
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{c.Name} {command} failed (exit {process.ExitCode}): {stdout.Trim()} {stderr.Result.Trim()}");
        return elapsed;
    }

    private static void Report(Contender fathom, Contender reference)
    {
        Console.WriteLine();
        Console.WriteLine($"{"",-10}{"fathom median",15}{"p99",9}{"host-device median",21}{"p99",9}{"ratio (median)",17}");
        Row("ADD", fathom.Add, reference.Add);
        Row("DEL", fathom.Del, reference.Del);
        Row("ADD+DEL", fathom.Cycle, reference.Cycle);
        Row("VERSION", fathom.Version, reference.Version);
        Console.WriteLine("(milliseconds; ratio = fathom / host-device)");

        var cycleRatio = BenchScratch.Percentile(fathom.Cycle, 0.50) / BenchScratch.Percentile(reference.Cycle, 0.50);
        var startRatio = BenchScratch.Percentile(fathom.Version, 0.50) / BenchScratch.Percentile(reference.Version, 0.50);
        Console.WriteLine();
        Console.WriteLine($"target: ADD+DEL cycle ≤ 1/4 of host-device: ratio {F(cycleRatio)} → {Verdict(cycleRatio, cycleRatio <= 0.25)}");
        Console.WriteLine($"target: faster start (VERSION) than host-device: ratio {F(startRatio)} → {Verdict(startRatio, startRatio < 1)}");
    }

    private static void Row(string what, List<double> fathom, List<double> reference) =>
        Console.WriteLine($"{what,-10}{F(BenchScratch.Percentile(fathom, 0.50)),15}{F(BenchScratch.Percentile(fathom, 0.99)),9}" +
                          $"{F(BenchScratch.Percentile(reference, 0.50)),21}{F(BenchScratch.Percentile(reference, 0.99)),9}" +
                          $"{F(BenchScratch.Percentile(fathom, 0.50) / BenchScratch.Percentile(reference, 0.50)),17}");

    /// <summary>Two decimals; "-" for a figure with no samples behind it (an interrupted run that never got there).</summary>
    private static string F(double value) => double.IsNaN(value) ? "-" : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static string Verdict(double ratio, bool met) => double.IsNaN(ratio) ? "not measured" : met ? "met" : "NOT met";
}
