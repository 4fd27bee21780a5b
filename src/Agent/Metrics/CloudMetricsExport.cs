using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Fathom.Cloud;

namespace Fathom.Agent.Metrics;

/// <summary>
/// The cloud provider's instruments (<see cref="CloudMetrics"/>, docs/cloud.md "Metrics") on the
/// agent's <c>/metrics</c>: a listener on that one meter keeps each counter and histogram per tag set,
/// rendered as <c>fathom_cloud_requests_total{action,outcome}</c>,
/// <c>fathom_cloud_request_duration_seconds{action,outcome}</c>, <c>fathom_cloud_retries_total{action,outcome}</c>
/// and <c>fathom_cloud_rate_limit_wait_seconds{action}</c>.
/// </summary>
public sealed class CloudMetricsExport : IDisposable
{
    private static readonly (string Instrument, string Name, string Help)[] Counters =
    [
        (CloudMetrics.RequestsName, "fathom_cloud_requests_total", "Requests made to the cloud's API (each attempt of a retried call), by action and outcome."),
        (CloudMetrics.RetriesName, "fathom_cloud_retries_total", "Requests retried after a throttled or transient failure, by action and the failure."),
    ];

    private static readonly (string Instrument, string Name, string Help)[] Histograms =
    [
        (CloudMetrics.DurationName, "fathom_cloud_request_duration_seconds", "Latency of requests to the cloud's API, by action and outcome."),
        (CloudMetrics.RateLimitWaitName, "fathom_cloud_rate_limit_wait_seconds", "Time requests waited for the agent's own rate limiter, by action (waits longer than zero)."),
    ];

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Instrument, string Labels), long> _counts = new();
    private readonly ConcurrentDictionary<(string Instrument, string Labels), LatencyHistogram> _histograms = new();

    /// <summary>Starts listening to <paramref name="meter"/> (a provider's <see cref="CloudMetrics.Meter"/>), and to no other.</summary>
    public CloudMetricsExport(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, meter)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            _counts.AddOrUpdate((instrument.Name, Labels(tags)), value, (_, sum) => sum + value));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
            _histograms.GetOrAdd((instrument.Name, Labels(tags)), _ => new LatencyHistogram()).Observe(value));
        _listener.Start();
    }

    /// <summary>The Prometheus text of the cloud's instruments, each series in a stable order.</summary>
    public string Render()
    {
        var text = new StringBuilder();
        foreach (var (instrument, name, help) in Counters)
        {
            PrometheusText.Header(text, name, "counter", help);
            foreach (var (key, value) in _counts.Where(c => c.Key.Instrument == instrument).OrderBy(c => c.Key.Labels, StringComparer.Ordinal))
                text.Append(CultureInfo.InvariantCulture, $"{name}{{{key.Labels}}} {value}\n");
        }
        foreach (var (instrument, name, help) in Histograms)
        {
            PrometheusText.Header(text, name, "histogram", help);
            foreach (var (key, histogram) in _histograms.Where(h => h.Key.Instrument == instrument).OrderBy(h => h.Key.Labels, StringComparer.Ordinal))
                histogram.Render(text, name, key.Labels);
        }
        return text.ToString();
    }

    /// <summary>Stops listening.</summary>
    public void Dispose() => _listener.Dispose();

    // action="X",outcome="Y": the tags sorted by name, values escaped as the text format wants.
    private static string Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var sorted = tags.ToArray();
        Array.Sort(sorted, (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return string.Join(',', sorted.Select(t =>
            $"{t.Key}=\"{Convert.ToString(t.Value, CultureInfo.InvariantCulture)?.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)}\""));
    }
}
