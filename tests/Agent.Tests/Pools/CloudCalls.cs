using System.Diagnostics.Metrics;
using Fathom.Cloud;

namespace Fathom.Agent.Tests.Pools;

/// <summary>Counts the requests a <see cref="ResilientCloudProvider"/> sends, by EC2 action, from its metrics (every attempt, whatever its outcome).</summary>
internal sealed class CloudCalls : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, long> _byAction = new(StringComparer.Ordinal);

    public CloudCalls(ResilientCloudProvider cloud)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == cloud.Metrics.Meter && instrument.Name == CloudMetrics.RequestsName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "action")
                    lock (_byAction) _byAction[(string)tag.Value!] = _byAction.GetValueOrDefault((string)tag.Value!) + value;
        });
        _listener.Start();
    }

    /// <summary>Requests of <paramref name="action"/> so far (e.g. "DescribeNetworkInterfaces").</summary>
    public long Of(string action)
    {
        lock (_byAction) return _byAction.GetValueOrDefault(action);
    }

    public void Dispose() => _listener.Dispose();
}
