using System.Globalization;
using System.Net;

namespace Fathom.Lab.Ec2;

/// <summary>
/// Faults the emulated EC2 API injects, for tests and benchmarks (issue 4 §5): an attach latency,
/// a throttling rate (RequestLimitExceeded, HTTP 503), an error rate (InternalError 500 or
/// Unavailable 503, half each) and a lost-answer rate (the request takes effect, the answer is
/// InternalError 500), each for all actions or per action. Thread-safe; change it at any time
/// while the API is serving.
/// </summary>
/// <remarks>
/// The agent must treat all of them as normal weather (DESIGN.md §4): AWS throttles per account
/// and action with a token bucket, and 5xx answers are documented as retryable. A lost answer is
/// what a client sees when its connection or its time-out ends a call the cloud completed: the
/// retry then meets the changed state (an IP no longer assigned, an ENI already attached), so a
/// failed call is no proof that nothing changed.
/// </remarks>
public sealed class FaultPlan
{
    private readonly Lock _gate = new();
    private readonly Random _random;
    private readonly Dictionary<string, double> _throttle = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _errors = new(StringComparer.Ordinal);
    private readonly Dictionary<string, double> _lost = new(StringComparer.Ordinal);
    private double _throttleAll;
    private double _errorAll;
    private double _lostAll;
    private TimeSpan _attachLatency;

    /// <summary>A plan that injects nothing until told to.</summary>
    /// <param name="random">Decides which requests fail; inject a seeded one for reproducible runs.</param>
    public FaultPlan(Random? random = null) => _random = random ?? new Random();

    /// <summary>How long AttachNetworkInterface waits (the attachment "attaching") before the ENI is plugged in.</summary>
    public TimeSpan AttachLatency
    {
        get { lock (_gate) return _attachLatency; }
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, TimeSpan.Zero);
            lock (_gate) _attachLatency = value;
        }
    }

    /// <summary>Fraction (0–1) of requests answered RequestLimitExceeded; <paramref name="action"/> null means every action.</summary>
    public void SetThrottleRate(double rate, string? action = null) => Set(_throttle, ref _throttleAll, rate, action);

    /// <summary>Fraction (0–1) of requests answered InternalError or Unavailable; <paramref name="action"/> null means every action.</summary>
    public void SetErrorRate(double rate, string? action = null) => Set(_errors, ref _errorAll, rate, action);

    /// <summary>Fraction (0–1) of requests that take effect and are answered InternalError (500) all the same; <paramref name="action"/> null means every action.</summary>
    public void SetLostAnswerRate(double rate, string? action = null) => Set(_lost, ref _lostAll, rate, action);

    /// <summary>The throttling rate that applies to an action (its own, else the one for all).</summary>
    public double ThrottleRate(string action)
    {
        lock (_gate) return _throttle.GetValueOrDefault(action, _throttleAll);
    }

    /// <summary>The error rate that applies to an action (its own, else the one for all).</summary>
    public double ErrorRate(string action)
    {
        lock (_gate) return _errors.GetValueOrDefault(action, _errorAll);
    }

    /// <summary>The lost-answer rate that applies to an action (its own, else the one for all).</summary>
    public double LostAnswerRate(string action)
    {
        lock (_gate) return _lost.GetValueOrDefault(action, _lostAll);
    }

    /// <summary>Removes every fault.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _throttle.Clear();
            _errors.Clear();
            _lost.Clear();
            _throttleAll = _errorAll = _lostAll = 0;
            _attachLatency = TimeSpan.Zero;
        }
    }

    /// <summary>
    /// Parses the lab's fault flags: comma-separated <c>throttle=RATE</c>, <c>error=RATE</c>,
    /// <c>lost=RATE</c>, <c>attach-latency=DURATION</c> (e.g. 250ms, 2s), and per action
    /// <c>throttle:ACTION=RATE</c>, <c>error:ACTION=RATE</c>, <c>lost:ACTION=RATE</c>.
    /// Example: <c>throttle=0.05,error:AttachNetworkInterface=0.2,attach-latency=300ms</c>.
    /// </summary>
    /// <exception cref="FormatException">The text is not in that form.</exception>
    public static FaultPlan Parse(string spec, Random? random = null)
    {
        var plan = new FaultPlan(random);
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0) throw new FormatException($"fault '{part}': expected NAME=VALUE");
            var name = part[..eq];
            var value = part[(eq + 1)..];
            var colon = name.IndexOf(':');
            var action = colon < 0 ? null : name[(colon + 1)..];
            // A misspelt action would silently inject nothing: refuse it, naming the real ones.
            if (action is not null && !Ec2Api.ActionNames.Contains(action))
                throw new FormatException($"fault '{part}': unknown action '{action}' (one of {string.Join(", ", Ec2Api.ActionNames.Order(StringComparer.Ordinal))})");
            switch (colon < 0 ? name : name[..colon])
            {
                case "throttle": plan.SetThrottleRate(ParseRate(part, value), action); break;
                case "error": plan.SetErrorRate(ParseRate(part, value), action); break;
                case "lost": plan.SetLostAnswerRate(ParseRate(part, value), action); break;
                case "attach-latency" when action is null: plan.AttachLatency = ParseDuration(part, value); break;
                default: throw new FormatException($"fault '{part}': unknown fault (throttle, error, lost, attach-latency)");
            }
        }
        return plan;
    }

    /// <summary>Decides whether this request of <paramref name="action"/> fails, and how; null lets it through.</summary>
    internal Ec2Exception? Draw(string action)
    {
        lock (_gate)
        {
            var throttle = _throttle.GetValueOrDefault(action, _throttleAll);
            if (throttle > 0 && _random.NextDouble() < throttle)
                return new Ec2Exception(Ec2ErrorCodes.RequestLimitExceeded, "Request limit exceeded.", HttpStatusCode.ServiceUnavailable);
            var error = _errors.GetValueOrDefault(action, _errorAll);
            if (error > 0 && _random.NextDouble() < error)
                return _random.Next(2) == 0
                    ? new Ec2Exception(Ec2ErrorCodes.InternalError, "An internal error has occurred", HttpStatusCode.InternalServerError)
                    : new Ec2Exception(Ec2ErrorCodes.Unavailable, "The server is overloaded and can't handle the request.", HttpStatusCode.ServiceUnavailable);
            return null;
        }
    }

    /// <summary>Decides whether the answer to this request of <paramref name="action"/>, which took effect, is lost; null lets it through.</summary>
    internal Ec2Exception? DrawLost(string action)
    {
        lock (_gate)
        {
            var lost = _lost.GetValueOrDefault(action, _lostAll);
            return lost > 0 && _random.NextDouble() < lost
                ? new Ec2Exception(Ec2ErrorCodes.InternalError, "An internal error has occurred", HttpStatusCode.InternalServerError)
                : null;
        }
    }

    private void Set(Dictionary<string, double> perAction, ref double all, double rate, string? action)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rate, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(rate, 1);
        lock (_gate)
        {
            if (action is null) all = rate;
            else perAction[action] = rate;
        }
    }

    private static double ParseRate(string part, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate is >= 0 and <= 1
            ? rate
            : throw new FormatException($"fault '{part}': rate must be a number from 0 to 1");

    private static TimeSpan ParseDuration(string part, string value)
    {
        (string number, double scale) = value.EndsWith("ms", StringComparison.Ordinal) ? (value[..^2], 1.0)
            : value.EndsWith('s') ? (value[..^1], 1000.0)
            : (value, 1.0);
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0
            ? TimeSpan.FromMilliseconds(n * scale)
            : throw new FormatException($"fault '{part}': duration like 250ms or 2s");
    }
}
