namespace Fathom.Cloud;

/// <summary>A token bucket's figures: how many requests may go at once, and how fast that allowance comes back.</summary>
/// <param name="Capacity">Tokens the bucket holds when full: the largest burst.</param>
/// <param name="RefillPerSecond">Tokens added per second, up to <paramref name="Capacity"/>: the sustained rate.</param>
public sealed record TokenBucketOptions(int Capacity, double RefillPerSecond)
{
    /// <summary>Throws when the figures cannot make a bucket.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Capacity, 1, nameof(Capacity));
        if (!(RefillPerSecond > 0) || double.IsInfinity(RefillPerSecond))
            throw new ArgumentOutOfRangeException(nameof(RefillPerSecond), RefillPerSecond, "must be a positive rate");
    }
}

/// <summary>
/// A token bucket on a <see cref="TimeProvider"/>, the algorithm EC2 throttles with ("Request
/// throttling for the Amazon EC2 API"): holding the agent to the same figures means the cloud
/// rarely has to say RequestLimitExceeded. Thread-safe.
/// </summary>
/// <remarks>
/// A caller that finds the bucket empty still takes its token, driving the count below zero, and
/// waits until the refill has paid that debt: callers are served in the order they arrived and
/// nobody polls. A caller cancelled while waiting gives its token back.
/// </remarks>
public sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private double _tokens;
    private long _refilledAt;

    /// <summary>A full bucket.</summary>
    public TokenBucket(TokenBucketOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _time = time ?? TimeProvider.System;
        _tokens = options.Capacity;
        _refilledAt = _time.GetTimestamp();
    }

    /// <summary>The bucket's figures.</summary>
    public TokenBucketOptions Options { get; }

    /// <summary>Tokens in the bucket now; negative while callers wait for the refill.</summary>
    public double Available
    {
        get
        {
            lock (_gate)
            {
                Refill();
                return _tokens;
            }
        }
    }

    /// <summary>Takes a token; returns how long the caller must wait before it may use it (zero when one was there).</summary>
    public TimeSpan Reserve()
    {
        lock (_gate)
        {
            Refill();
            _tokens -= 1;
            return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / Options.RefillPerSecond);
        }
    }

    /// <summary>Gives back a token <see cref="Reserve"/> handed out and the caller did not use.</summary>
    public void Release()
    {
        lock (_gate)
        {
            Refill();
            _tokens = Math.Min(Options.Capacity, _tokens + 1);
        }
    }

    /// <summary>Takes a token, waiting for the refill if the bucket is empty.</summary>
    /// <returns>How long it waited.</returns>
    public async ValueTask<TimeSpan> TakeAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var wait = Reserve();
        if (wait <= TimeSpan.Zero) return TimeSpan.Zero;
        try
        {
            await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Release();
            throw;
        }
        return wait;
    }

    private void Refill()
    {
        var now = _time.GetTimestamp();
        var elapsed = _time.GetElapsedTime(_refilledAt, now);
        _refilledAt = now;
        if (elapsed > TimeSpan.Zero)
            _tokens = Math.Min(Options.Capacity, _tokens + elapsed.TotalSeconds * Options.RefillPerSecond);
    }
}
