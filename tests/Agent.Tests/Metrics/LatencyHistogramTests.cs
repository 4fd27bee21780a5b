using System.Diagnostics.Metrics;
using System.Text;
using Fathom.Agent.Metrics;

namespace Fathom.Agent.Tests.Metrics;

/// <summary>
/// The agent's Prometheus text for durations (<see cref="LatencyHistogram"/>) and for the cloud
/// provider's instruments (<see cref="CloudMetricsExport"/>): cumulative buckets, labels sorted and
/// escaped, and only the meter it was given.
/// </summary>
public sealed class LatencyHistogramTests
{
    [Fact]
    public void Buckets_are_cumulative_and_labels_come_before_le()
    {
        var histogram = new LatencyHistogram();
        histogram.Observe(TimeSpan.FromMilliseconds(3));
        histogram.Observe(0.2);
        histogram.Observe(60);
        var text = new StringBuilder();

        histogram.Render(text, "x_seconds", "request=\"allocate\"");

        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("x_seconds_bucket{request=\"allocate\",le=\"0.001\"} 0", lines);
        Assert.Contains("x_seconds_bucket{request=\"allocate\",le=\"0.005\"} 1", lines);
        Assert.Contains("x_seconds_bucket{request=\"allocate\",le=\"0.25\"} 2", lines);
        Assert.Contains("x_seconds_bucket{request=\"allocate\",le=\"30\"} 2", lines);
        Assert.Contains("x_seconds_bucket{request=\"allocate\",le=\"+Inf\"} 3", lines);
        Assert.Contains("x_seconds_count{request=\"allocate\"} 3", lines);
        Assert.Single(lines, l => l.StartsWith("x_seconds_sum{request=\"allocate\"} 60.203", StringComparison.Ordinal));
    }

    [Fact]
    public void The_cloud_export_renders_its_own_meters_instruments_by_tag_set_and_no_others()
    {
        using var meter = new Meter("Fathom.Cloud");
        using var other = new Meter("Fathom.Cloud");
        var requests = meter.CreateCounter<long>(Fathom.Cloud.CloudMetrics.RequestsName);
        var duration = meter.CreateHistogram<double>(Fathom.Cloud.CloudMetrics.DurationName);
        using var export = new CloudMetricsExport(meter);

        requests.Add(1, new("outcome", "success"), new("action", "AttachNetworkInterface"));
        requests.Add(2, new("action", "AttachNetworkInterface"), new("outcome", "success"));
        requests.Add(1, new("action", "Odd\"Name"), new("outcome", "throttled"));
        duration.Record(0.04, new("action", "AttachNetworkInterface"), new("outcome", "success"));
        other.CreateCounter<long>(Fathom.Cloud.CloudMetrics.RequestsName).Add(5, new KeyValuePair<string, object?>("action", "Elsewhere"));
        var text = export.Render();

        Assert.Contains("fathom_cloud_requests_total{action=\"AttachNetworkInterface\",outcome=\"success\"} 3\n", text);
        Assert.Contains("fathom_cloud_requests_total{action=\"Odd\\\"Name\",outcome=\"throttled\"} 1\n", text);
        Assert.Contains("fathom_cloud_request_duration_seconds_bucket{action=\"AttachNetworkInterface\",outcome=\"success\",le=\"0.05\"} 1\n", text);
        Assert.DoesNotContain("Elsewhere", text);
        Assert.Contains("# TYPE fathom_cloud_rate_limit_wait_seconds histogram\n", text);
    }
}
