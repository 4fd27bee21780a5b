using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Fathom.Ctl;

/// <summary>What one <see cref="BenchDataplane"/> measure reads: its key in the JSON, its unit, and whether more is better.</summary>
/// <param name="Key">The key in <c>--json</c> (<c>tcp1</c>, <c>tcp8</c>, <c>udp</c>, <c>rttP50</c>, <c>rttP99</c>, <c>cpu</c>).</param>
/// <param name="Title">A column header.</param>
/// <param name="Unit">The unit of a sample.</param>
/// <param name="HigherIsBetter">Throughput: yes; latency and CPU cost: no.</param>
internal sealed record DataplaneMeasure(string Key, string Title, string Unit, bool HigherIsBetter)
{
    public static readonly DataplaneMeasure Tcp1 = new("tcp1", "TCP×1", "Gbit/s", true);
    public static readonly DataplaneMeasure Tcp8 = new("tcp8", "TCP×8", "Gbit/s", true);
    public static readonly DataplaneMeasure Udp = new("udp", "UDP 64 B", "kpps", true);
    public static readonly DataplaneMeasure RttP50 = new("rttP50", "RTT p50", "µs", false);
    public static readonly DataplaneMeasure RttP99 = new("rttP99", "RTT p99", "µs", false);
    public static readonly DataplaneMeasure Cpu = new("cpu", "CPU", "s/Gbit", false);

    /// <summary>Every measure, in the order of the table.</summary>
    public static readonly DataplaneMeasure[] All = [Tcp1, Tcp8, Udp, RttP50, RttP99, Cpu];

    /// <summary>The loads (one run each per wiring and round), in the order they run, and the measures each gives.</summary>
    public static readonly (string Load, DataplaneMeasure[] Measures)[] Loads =
        [("tcp1", [Tcp1, Cpu]), ("tcp8", [Tcp8]), ("udp", [Udp]), ("rtt", [RttP50, RttP99])];

    /// <summary>The measures <paramref name="loads"/> give, in the order of the table.</summary>
    public static DataplaneMeasure[] Of(IReadOnlyCollection<string> loads) =>
        [.. All.Where(m => Loads.Any(l => loads.Contains(l.Load) && l.Measures.Contains(m)))];

    /// <summary>
    /// The measures a <c>bench dataplane --json</c> file holds: those its <c>measures</c> lists (a run
    /// with fewer <c>--loads</c>), every one when it lists none (an older file).
    /// </summary>
    public static DataplaneMeasure[] In(System.Text.Json.JsonElement root)
    {
        if (!root.TryGetProperty("measures", out var listed) || listed.ValueKind != System.Text.Json.JsonValueKind.Array)
            return All;
        var keys = listed.EnumerateArray().Select(m => m.TryGetProperty("key", out var k) ? k.GetString() : null).ToHashSet();
        return [.. All.Where(m => keys.Contains(m.Key))];
    }
}

/// <summary>
/// The load generators of <see cref="BenchDataplane"/>, each run with its server in one namespace
/// and its client in another: iperf3 (TCP 1 and 8 streams, 64-byte UDP) and sockperf (TCP
/// ping-pong, full round-trip percentiles). The parsers are pure, tested on captured output.
/// </summary>
internal static partial class BenchDataplaneProbes
{
    private const int SockperfPort = 11111;

    /// <summary>One iperf3 run's figures: received Gbit/s (TCP) or kpps (UDP), and CPU seconds per Gbit (both ends' iperf3 processes).</summary>
    public readonly record struct IperfResult(double Gbits, double Kpps, double CpuPerGbit);

    /// <summary>TCP with <paramref name="streams"/> parallel streams, with <paramref name="congestion"/> (iperf3 <c>-C</c>) unless null.</summary>
    public static IperfResult Tcp(string client, string server, string serverIp, int seconds, int streams, string? congestion = null) =>
        ParseIperf(Iperf(client, server, serverIp, ["-t", $"{seconds}", "-P", $"{streams}", .. congestion is null ? Array.Empty<string>() : ["-C", congestion]]),
            udpPayload: null);

    /// <summary>UDP with 64-byte payloads as fast as the sender can go: the rate the receiver gets is the small-packet rate.</summary>
    public static IperfResult Udp(string client, string server, string serverIp, int seconds) =>
        ParseIperf(Iperf(client, server, serverIp, ["-t", $"{seconds}", "-u", "-l", "64", "-b", "0"]), udpPayload: 64);

    /// <summary>Request/response latency: sockperf ping-pong over TCP, the full round trip's p50 and p99 in µs.</summary>
    public static (double P50, double P99) PingPong(string client, string server, string serverIp, int seconds)
    {
        using var sockperf = Start("ip", "netns", "exec", server, "sockperf", "server", "--tcp", "-i", serverIp, "-p", $"{SockperfPort}");
        try
        {
            // The first 400 ms are sockperf's warm-up, not recorded: a 1 s run keeps ~0.6 s (tens of thousands of round trips).
            // sockperf has no connect time-out (TCP would retry its SYN for two minutes): timeout(1) bounds each try.
            string[] args = ["netns", "exec", client, "timeout", $"{seconds + 5}", "sockperf", "ping-pong", "--tcp", "--full-rtt", "-i", serverIp,
                "-p", $"{SockperfPort}", "-t", $"{seconds}"];
            var started = Stopwatch.StartNew();
            for (var attempt = 0; ; attempt++)
            {
                var (code, output) = Exec("ip", args, check: false);
                if (code == 0 && ParseSockperf(output) is { } percentiles) return percentiles;
                if (started.Elapsed > TimeSpan.FromSeconds(20) || sockperf.HasExited)
                    throw new InvalidOperationException($"sockperf {client} → {serverIp} failed: {(code == 124 ? "no answer (timed out)" : output.Trim())}");
                Thread.Sleep(100); // the server is not listening yet
            }
        }
        finally
        {
            Stop(sockperf);
        }
    }

    private static JsonElement Iperf(string client, string server, string serverIp, string[] extra)
    {
        using var iperf = Start("ip", "netns", "exec", server, "iperf3", "-s", "-1", "-B", serverIp);
        try
        {
            string[] args = ["netns", "exec", client, "iperf3", "-c", serverIp, "-J", "--connect-timeout", "1000", .. extra];
            var started = Stopwatch.StartNew();
            for (var attempt = 0; ; attempt++)
            {
                var (code, stdout) = Exec("ip", args, check: false);
                if (code == 0 && TryParseJson(stdout) is { } json) return json;
                if (started.Elapsed > TimeSpan.FromSeconds(20) || iperf.HasExited) throw new InvalidOperationException($"iperf3 {client} → {serverIp} failed: {stdout.Trim()}");
                Thread.Sleep(100); // the server is not listening yet
            }
        }
        finally
        {
            Stop(iperf);
        }
    }

    /// <summary>
    /// iperf3's <c>-J</c> report: the receiver's rate, and the CPU both iperf3 processes used
    /// (<c>cpu_utilization_percent</c>, % of one core over the run) per Gbit/s. That counts the
    /// kernel work done in those processes' context (most of a veth path's softirq runs there),
    /// not other processes' load on a shared machine, which /proc/stat would.
    /// </summary>
    internal static IperfResult ParseIperf(JsonElement root, int? udpPayload)
    {
        var end = root.GetProperty("end");
        var received = end.GetProperty("sum_received");
        var gbits = received.GetProperty("bits_per_second").GetDouble() / 1e9;
        var kpps = udpPayload is int payload
            ? received.GetProperty("bytes").GetDouble() / payload / Math.Max(received.GetProperty("seconds").GetDouble(), 1e-9) / 1000
            : double.NaN;
        var cpu = end.TryGetProperty("cpu_utilization_percent", out var c)
            ? (c.GetProperty("host_total").GetDouble() + c.GetProperty("remote_total").GetDouble()) / 100
            : double.NaN;
        return new IperfResult(gbits, kpps, gbits > 0 ? cpu / gbits : double.NaN);
    }

    private static JsonElement? TryParseJson(string text)
    {
        try
        {
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.TryGetProperty("end", out var end) && end.TryGetProperty("sum_received", out _)
                ? doc.RootElement.Clone()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>p50 and p99 from sockperf's summary (<c>---&gt; percentile 50.000 =    7.506</c>), or null when it has none.</summary>
    internal static (double P50, double P99)? ParseSockperf(string output)
    {
        double? p50 = null, p99 = null;
        foreach (Match m in PercentileLine().Matches(output))
        {
            var value = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            if (m.Groups[1].Value == "50.000") p50 = value;
            else if (m.Groups[1].Value == "99.000") p99 = value;
        }
        return p50 is double a && p99 is double b ? (a, b) : null;
    }

    [GeneratedRegex(@"percentile (\d+\.\d+) =\s+(\d+(?:\.\d+)?)")]
    private static partial Regex PercentileLine();

    private static Process Start(string file, params string[] args) =>
        Process.Start(Psi(file, args)) ?? throw new InvalidOperationException($"cannot start {file}");

    private static void Stop(Process p)
    {
        if (!p.HasExited) p.Kill();
        p.WaitForExit();
    }

    /// <summary>Runs a command to its end; its stdout (with stderr when it failed).</summary>
    public static (int Code, string Output) Exec(string file, string[] args, bool check = true, string? stdin = null)
    {
        var psi = Psi(file, args);
        psi.RedirectStandardInput = stdin is not null;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)}: exit {p.ExitCode}: {(stderr + stdout.Result).Trim()}");
        return (p.ExitCode, p.ExitCode == 0 ? stdout.Result : stdout.Result + stderr);
    }

    private static ProcessStartInfo Psi(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }
}
