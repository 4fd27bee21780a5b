namespace Fathom.Cloud.Tests;

public sealed class TokenBucketTests
{
    private readonly SteppingTime _time = new();

    [Fact]
    public void A_full_bucket_lets_a_burst_of_its_capacity_through_then_spaces_callers_by_the_refill_rate()
    {
        var bucket = new TokenBucket(new TokenBucketOptions(Capacity: 3, RefillPerSecond: 2), _time);
        Assert.All(Enumerable.Range(0, 3), _ => Assert.Equal(TimeSpan.Zero, bucket.Reserve()));
        // Empty: each further caller waits half a second more than the one before (2 tokens/s), in arrival order.
        Assert.Equal(TimeSpan.FromSeconds(0.5), bucket.Reserve());
        Assert.Equal(TimeSpan.FromSeconds(1.0), bucket.Reserve());
        Assert.Equal(-2, bucket.Available, precision: 9);
    }

    [Fact]
    public void It_refills_at_its_rate_and_never_past_its_capacity()
    {
        var bucket = new TokenBucket(new TokenBucketOptions(10, 5), _time);
        for (var i = 0; i < 10; i++) bucket.Reserve();
        Assert.Equal(0, bucket.Available, precision: 9);
        _time.Advance(TimeSpan.FromMilliseconds(600));
        Assert.Equal(3, bucket.Available, precision: 9);
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(10, bucket.Available, precision: 9);
    }

    [Fact]
    public async Task TakeAsync_waits_on_the_clock_for_the_refill()
    {
        var bucket = new TokenBucket(new TokenBucketOptions(1, 4), _time);
        Assert.Equal(TimeSpan.Zero, await bucket.TakeAsync());
        var waiting = bucket.TakeAsync().AsTask();
        Assert.False(waiting.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(249));
        Assert.False(waiting.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(TimeSpan.FromMilliseconds(250), await waiting);
    }

    [Fact]
    public async Task A_caller_cancelled_while_waiting_gives_its_token_back()
    {
        var bucket = new TokenBucket(new TokenBucketOptions(1, 1), _time);
        await bucket.TakeAsync();
        using var cancel = new CancellationTokenSource();
        var waiting = bucket.TakeAsync(cancel.Token).AsTask();
        Assert.Equal(-1, bucket.Available, precision: 9);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.Equal(0, bucket.Available, precision: 9);
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(1, 0)]
    [InlineData(1, -1)]
    [InlineData(1, double.NaN)]
    public void Nonsense_figures_are_refused(int capacity, double rate) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenBucket(new TokenBucketOptions(capacity, rate), _time));
}
