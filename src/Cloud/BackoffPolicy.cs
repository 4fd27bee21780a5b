namespace Fathom.Cloud;

/// <summary>
/// Exponential backoff with full jitter, bounded in attempts and in total time. Full jitter
/// (a delay drawn uniformly from zero to the exponential ceiling) spreads the retries of many
/// agents throttled at the same moment, so they do not come back in lockstep (AWS Architecture
/// Blog, "Exponential Backoff And Jitter"; the EC2 API guide recommends it for RequestLimitExceeded).
/// </summary>
public sealed record BackoffPolicy
{
    /// <summary>Attempts in all, the first included (default 5).</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>The ceiling of the first retry's delay; it doubles per retry (default 200 ms).</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The most the ceiling grows to (default 10 s).</summary>
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The most time a call may take from its first attempt, waits included (default 30 s): a retry
    /// whose delay would end past it is not made and the last error is thrown instead.
    /// </summary>
    public TimeSpan MaxElapsed { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Throws when the figures make no sense.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAttempts, 1, nameof(MaxAttempts));
        ArgumentOutOfRangeException.ThrowIfLessThan(BaseDelay, TimeSpan.Zero, nameof(BaseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxDelay, BaseDelay, nameof(MaxDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxElapsed, TimeSpan.Zero, nameof(MaxElapsed));
    }

    /// <summary>The upper bound of the delay before retry number <paramref name="retry"/> (1 for the first retry): min(MaxDelay, BaseDelay × 2^(retry−1)).</summary>
    public TimeSpan Ceiling(int retry)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        // 2^62 ticks would overflow long arithmetic; past ~40 doublings any base is beyond any cap anyway.
        var doublings = Math.Min(retry - 1, 40);
        var ticks = BaseDelay.Ticks * Math.Pow(2, doublings);
        return ticks >= MaxDelay.Ticks ? MaxDelay : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>
    /// The delay before retry number <paramref name="retry"/>: uniform in [0, <see cref="Ceiling"/>),
    /// drawn from <paramref name="random"/>, in whole milliseconds (what timers resolve anyway).
    /// </summary>
    public TimeSpan Delay(int retry, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        return TimeSpan.FromMilliseconds(Math.Floor(Ceiling(retry).TotalMilliseconds * random.NextDouble()));
    }
}
