using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using Fathom.Netlink;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl bench netlink [--cycles N] [--netns NAME]</c>: the pod-wiring cycle of a CNI
/// plugin (veth into a netns, rename, MTU, address, up, route, delete) through Fathom.Netlink
/// and through the equivalent <c>ip -n</c> commands, interleaved cycle by cycle so both see the
/// same machine (issue 2 §4; docs/benchmarks.md).
/// </summary>
/// <remarks>
/// Nothing touches the root namespace: the "host" side is a temporary namespace of its own,
/// and the "pod" side is the given namespace or another temporary one. Both temporary
/// namespaces are deleted at the end, also on failure or Ctrl-C.
/// </remarks>
internal static class BenchNetlinkCommand
{
    private const string HostEnd = "fbench-h";
    private const string PodEnd = "fbench-p";
    private const string PodName = "fbench-eth";
    private const int PodMtu = 1400;
    private const int WarmupCycles = 10;

    /// <summary>Issue 2 §4: the library at least 20× faster per cycle than ip.</summary>
    private const int TargetRatio = 20;

    // RFC 2544's benchmarking range, so the cycle cannot collide with a real pod network in --netns.
    private static readonly IpPrefix PodAddress = IpPrefix.Parse("198.18.0.2/24");
    private static readonly IPAddress Gateway = IPAddress.Parse("198.18.0.1");
    private static readonly IpPrefix RouteDestination = IpPrefix.Parse("198.19.0.0/16");

    /// <summary>The steps of one cycle, in order; each side records its time per step.</summary>
    private static readonly string[] Steps = ["create veth", "rename", "set mtu", "add address", "set up", "add route", "delete"];

    internal static readonly Option<int> Cycles = NumberOptions.Count("--cycles", "How many measured cycles per side.", 500);

    internal static readonly Option<string> PodNetns = new("--netns")
    {
        Description = "An existing netns to use as the pod side (default: a temporary one); it must not have fbench-p or fbench-eth.",
        HelpName = "NAME",
    };

    public static Command Create()
    {
        var command = new Command("netlink", "The pod-wiring cycle of a CNI plugin through Fathom.Netlink and through ip, interleaved; per-step and per-cycle medians.")
        {
            Cycles, PodNetns,
        };
        command.SetAction(parse =>
        {
            if (!Environment.IsPrivilegedProcess)
                throw new InvalidOperationException("needs root: it creates namespaces and veth pairs (sudo fathomctl bench netlink)");
            return Run(parse.GetValue(Cycles), parse.GetValue(PodNetns));
        });
        return command;
    }

    private static int Run(int cycles, string? podNetnsName)
    {
        using var scratch = new BenchScratch();
        var hostName = scratch.NameFor("-host");
        using var hostNetns = scratch.CreateNetns("-host");
        if (podNetnsName is null)
        {
            podNetnsName = scratch.NameFor("");
            scratch.CreateNetns("").Dispose();
        }
        using var podNetns = Netns.Open(podNetnsName);
        using var host = NetlinkHandle.OpenIn(hostNetns);
        using var pod = NetlinkHandle.OpenIn(podNetns);
        foreach (var name in new[] { PodEnd, PodName })
            if (pod.TryGetLink(name, out _))
                throw new InvalidOperationException($"netns {podNetnsName} already has a link '{name}': not touching it");

        var ip = new IpCycle(hostName, podNetnsName);
        var library = new LibraryCycle(host, pod, podNetns);
        Console.WriteLine($"bench netlink: {cycles} cycles of {string.Join(", ", Steps)}");
        Console.WriteLine($"  pod netns {podNetnsName}, host netns {hostName}; library and ip interleaved, {WarmupCycles} warm-up cycles each not counted");

        var libraryTimes = new double[cycles, Steps.Length];
        var ipTimes = new double[cycles, Steps.Length];
        var done = 0;
        try
        {
            for (var i = 0; i < WarmupCycles && !scratch.Interrupted; i++)
            {
                library.Run(null);
                ip.Run(null);
            }
            for (; done < cycles && !scratch.Interrupted; done++)
            {
                // Alternate which side goes first, so neither always follows the other's teardown.
                if (done % 2 == 0)
                {
                    library.Run(Row(libraryTimes, done));
                    ip.Run(Row(ipTimes, done));
                }
                else
                {
                    ip.Run(Row(ipTimes, done));
                    library.Run(Row(libraryTimes, done));
                }
            }
        }
        catch (InvalidOperationException) when (scratch.InterruptedJustNow())
        {
            // A terminal's Ctrl-C reaches the ip running in the foreground too (same process
            // group), which then fails: the interrupt, not a failure of ip. The cycle it broke
            // is not counted.
        }
        if (done == 0)
        {
            // Only Ctrl-C during the warm-up gets here (cycles is at least 1).
            Console.Error.WriteLine("fathomctl bench netlink: interrupted before the first measured cycle");
            return 130;
        }
        Report(libraryTimes, ipTimes, done);
        return scratch.Interrupted ? 130 : 0;
    }

    private static Span<double> Row(double[,] table, int row) =>
        System.Runtime.InteropServices.MemoryMarshal.CreateSpan(ref table[row, 0], table.GetLength(1));

    /// <summary>One cycle through Fathom.Netlink: two handles, each bound to its namespace, no thread switching.</summary>
    private sealed class LibraryCycle(NetlinkHandle host, NetlinkHandle pod, NetnsHandle podNetns)
    {
        private readonly Route _route = new() { Destination = RouteDestination, Gateway = Gateway };

        public void Run(Span<double> stepMs)
        {
            var clock = new StepClock(stepMs);
            var hostEnd = host.CreateVeth(HostEnd, PodEnd, podNetns);
            clock.Lap();
            // Resolving the peer's ifindex by name is part of the step, as `ip link set NAME` does it too.
            var podEnd = pod.GetLink(PodEnd).Index;
            pod.SetLinkName(podEnd, PodName);
            clock.Lap();
            pod.SetLinkMtu(podEnd, PodMtu);
            clock.Lap();
            pod.AddAddress(podEnd, PodAddress);
            clock.Lap();
            pod.SetLinkUp(podEnd);
            clock.Lap();
            pod.AddRoute(_route with { OutputIndex = podEnd });
            clock.Lap();
            host.DeleteLink(hostEnd.Index);
            clock.Lap();
        }
    }

    /// <summary>The same cycle as an operator (or a shell-script CNI plugin) would type it.</summary>
    private sealed class IpCycle(string hostNetns, string podNetns)
    {
        public void Run(Span<double> stepMs)
        {
            var clock = new StepClock(stepMs);
            Ip("-n", hostNetns, "link", "add", HostEnd, "type", "veth", "peer", "name", PodEnd, "netns", podNetns);
            clock.Lap();
            Ip("-n", podNetns, "link", "set", PodEnd, "name", PodName);
            clock.Lap();
            Ip("-n", podNetns, "link", "set", PodName, "mtu", PodMtu.ToString(CultureInfo.InvariantCulture));
            clock.Lap();
            Ip("-n", podNetns, "addr", "add", PodAddress.ToString(), "dev", PodName);
            clock.Lap();
            Ip("-n", podNetns, "link", "set", PodName, "up");
            clock.Lap();
            Ip("-n", podNetns, "route", "add", RouteDestination.ToString(), "via", Gateway.ToString(), "dev", PodName);
            clock.Lap();
            Ip("-n", hostNetns, "link", "del", HostEnd);
            clock.Lap();
        }

        private static void Ip(params string[] args)
        {
            var psi = new ProcessStartInfo("ip") { UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start ip");
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"ip {string.Join(' ', args)} exited {process.ExitCode}");
        }
    }

    /// <summary>Writes the milliseconds since the previous lap into consecutive slots (nowhere during warm-up).</summary>
    private ref struct StepClock(Span<double> stepMs)
    {
        private readonly Span<double> _stepMs = stepMs;
        private long _last = Stopwatch.GetTimestamp();
        private int _step;

        public void Lap()
        {
            var now = Stopwatch.GetTimestamp();
            if (!_stepMs.IsEmpty) _stepMs[_step] = Stopwatch.GetElapsedTime(_last, now).TotalMilliseconds;
            _step++;
            _last = now;
        }
    }

    private static void Report(double[,] library, double[,] ip, int cycles)
    {
        Console.WriteLine();
        Console.WriteLine($"{"per step (median ms)",-22} {"Fathom.Netlink",14} {"ip",10} {"ip/lib",8}");
        for (var s = 0; s < Steps.Length; s++)
        {
            var lib = Median(Column(library, cycles, s));
            var cmd = Median(Column(ip, cycles, s));
            Console.WriteLine($"{Steps[s],-22} {lib,14:F3} {cmd,10:F3} {cmd / lib,7:F1}×");
        }

        Console.WriteLine();
        Console.WriteLine($"{"per cycle (ms)",-22} {"Fathom.Netlink",14} {"ip",10} {"ip/lib",8}");
        var configureSteps = Steps.Length - 1;
        Line("cycle median", Median(Totals(library, cycles, Steps.Length)), Median(Totals(ip, cycles, Steps.Length)));
        Line("cycle p99", P99(Totals(library, cycles, Steps.Length)), P99(Totals(ip, cycles, Steps.Length)));
        // The kernel's own unregister work (an RCU barrier in netdev_run_todo, net/core/dev.c)
        // happens inside the delete request whoever sends it; without it, what is left is the
        // cost of the tool.
        Line("without delete, median", Median(Totals(library, cycles, configureSteps)), Median(Totals(ip, cycles, configureSteps)));
        Line("without delete, p99", P99(Totals(library, cycles, configureSteps)), P99(Totals(ip, cycles, configureSteps)));

        var ratio = Median(Totals(ip, cycles, Steps.Length)) / Median(Totals(library, cycles, Steps.Length));
        Console.WriteLine();
        Console.WriteLine($"target ip/lib >= {TargetRatio}x per cycle (median): {(ratio >= TargetRatio ? "met" : "not met")} ({ratio:F1}x over {cycles} cycles)");

        static void Line(string what, double lib, double cmd) =>
            Console.WriteLine($"{what,-22} {lib,14:F3} {cmd,10:F3} {cmd / lib,7:F1}×");
    }

    private static double[] Column(double[,] table, int rows, int column)
    {
        var values = new double[rows];
        for (var r = 0; r < rows; r++) values[r] = table[r, column];
        return values;
    }

    /// <summary>Per-cycle sums of the first <paramref name="steps"/> steps.</summary>
    private static double[] Totals(double[,] table, int rows, int steps)
    {
        var values = new double[rows];
        for (var r = 0; r < rows; r++)
            for (var s = 0; s < steps; s++) values[r] += table[r, s];
        return values;
    }

    private static double Median(double[] values) => BenchScratch.Percentile(values, 0.50);

    private static double P99(double[] values) => BenchScratch.Percentile(values, 0.99);
}
