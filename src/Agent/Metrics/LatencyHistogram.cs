using System.Globalization;
using System.Text;

namespace Fathom.Agent.Metrics;

/// <summary>
/// A Prometheus histogram of durations in seconds, cumulative buckets from 1 ms to 30 s: observed
/// from any thread, rendered as <c>NAME_bucket{…,le="…"}</c>, <c>NAME_sum</c> and <c>NAME_count</c>.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>The buckets' upper bounds, in seconds (+Inf is implied).</summary>
    public static readonly double[] Bounds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly long[] _counts = new long[Bounds.Length];
    private readonly Lock _gate = new();
    private long _count;
    private double _sum;

    /// <summary>Counts one duration.</summary>
    public void Observe(TimeSpan elapsed) => Observe(elapsed.TotalSeconds);

    /// <summary>Counts one duration of <paramref name="seconds"/>.</summary>
    public void Observe(double seconds)
    {
        lock (_gate)
        {
            for (var i = 0; i < Bounds.Length; i++)
                if (seconds <= Bounds[i]) _counts[i]++;
            _count++;
            _sum += seconds;
        }
    }

    /// <summary>The cumulative bucket counts (one per bound), the count and the sum so far.</summary>
    public (long[] Buckets, long Count, double Sum) Read()
    {
        lock (_gate) return ([.. _counts], _count, _sum);
    }

    /// <summary>Appends the series of <paramref name="name"/> with <paramref name="labels"/> (<c>a="x",b="y"</c>, or empty).</summary>
    public void Render(StringBuilder text, string name, string labels = "")
    {
        ArgumentNullException.ThrowIfNull(text);
        var (buckets, count, sum) = Read();
        var prefix = labels.Length == 0 ? "" : labels + ",";
        var own = labels.Length == 0 ? "" : "{" + labels + "}";
        for (var i = 0; i < Bounds.Length; i++)
            text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"{Bounds[i]}\"}} {buckets[i]}\n");
        text.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{{prefix}le=\"+Inf\"}} {count}\n");
        text.Append(CultureInfo.InvariantCulture, $"{name}_sum{own} {sum}\n");
        text.Append(CultureInfo.InvariantCulture, $"{name}_count{own} {count}\n");
    }
}
