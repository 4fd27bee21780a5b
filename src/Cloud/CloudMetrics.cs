using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Fathom.Cloud;

/// <summary>
/// The instruments <see cref="ResilientCloudProvider"/> records on, in the meter
/// <see cref="MeterName"/>: every request the cloud saw (each attempt of a retried call counts) by
/// action and outcome, its latency, the retries, and the time spent waiting for the rate limiter.
/// The agent exports them (OpenTelemetry / Prometheus) by listening to that meter.
/// </summary>
public sealed class CloudMetrics : IDisposable
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "Fathom.Cloud";

    /// <summary>Counter of requests, tags <c>action</c> (EC2 action name) and <c>outcome</c> (<see cref="Outcome"/>).</summary>
    public const string RequestsName = "fathom.cloud.requests";

    /// <summary>Histogram of request latency in seconds, same tags.</summary>
    public const string DurationName = "fathom.cloud.request.duration";

    /// <summary>Counter of retries, tags <c>action</c> and <c>outcome</c> (the failure retried).</summary>
    public const string RetriesName = "fathom.cloud.retries";

    /// <summary>Histogram of time spent waiting for a rate-limit token, in seconds, tag <c>action</c>; only waits longer than zero.</summary>
    public const string RateLimitWaitName = "fathom.cloud.rate_limit.wait";

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _retries;
    private readonly Histogram<double> _rateLimitWait;

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/> (DI), or on a meter of its own.</summary>
    public CloudMetrics(IMeterFactory? meterFactory = null)
    {
        // A factory's meters are the factory's to dispose; one made here is ours.
        _ownsMeter = meterFactory is null;
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _requests = _meter.CreateCounter<long>(RequestsName, "{request}", "Requests made to the cloud's API, by action and outcome.");
        _duration = _meter.CreateHistogram<double>(DurationName, "s", "Latency of requests to the cloud's API.");
        _retries = _meter.CreateCounter<long>(RetriesName, "{retry}", "Requests retried after a throttled or transient failure.");
        _rateLimitWait = _meter.CreateHistogram<double>(RateLimitWaitName, "s", "Time requests waited for the agent's own rate limiter.");
    }

    /// <summary>The meter the instruments live on (to tell them apart when several exist, as in tests).</summary>
    public Meter Meter => _meter;

    /// <summary>The outcome tag of a failure kind: "throttled", "limit_exceeded", "subnet_full", "not_found", "transient", "invalid".</summary>
    public static string Outcome(CloudErrorKind kind) => kind switch
    {
        CloudErrorKind.Throttled => "throttled",
        CloudErrorKind.LimitExceeded => "limit_exceeded",
        CloudErrorKind.SubnetFull => "subnet_full",
        CloudErrorKind.NotFound => "not_found",
        CloudErrorKind.Transient => "transient",
        CloudErrorKind.Invalid => "invalid",
        _ => "error",
    };

    /// <summary>Outcome tag of a successful request.</summary>
    public const string Success = "success";

    /// <summary>Outcome tag of a request abandoned because the caller cancelled.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>Outcome tag of a request that failed with something other than a <see cref="CloudException"/> (a provider bug).</summary>
    public const string Error = "error";

    internal void Request(CloudOperation operation, string outcome, TimeSpan latency)
    {
        var tags = new TagList { { "action", operation.ActionName() }, { "outcome", outcome } };
        _requests.Add(1, tags);
        _duration.Record(latency.TotalSeconds, tags);
    }

    internal void Retry(CloudOperation operation, CloudErrorKind kind) =>
        _retries.Add(1, new TagList { { "action", operation.ActionName() }, { "outcome", Outcome(kind) } });

    internal void RateLimitWait(CloudOperation operation, TimeSpan waited)
    {
        if (waited > TimeSpan.Zero)
            _rateLimitWait.Record(waited.TotalSeconds, new TagList { { "action", operation.ActionName() } });
    }

    /// <summary>Disposes the meter if it made it (ends its instruments' publication).</summary>
    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
