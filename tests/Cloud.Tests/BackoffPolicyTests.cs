namespace Fathom.Cloud.Tests;

public sealed class BackoffPolicyTests
{
    private static readonly BackoffPolicy Policy = new()
    {
        BaseDelay = TimeSpan.FromMilliseconds(100),
        MaxDelay = TimeSpan.FromSeconds(1),
    };

    [Fact]
    public void The_ceiling_doubles_per_retry_up_to_the_cap()
    {
        Assert.Equal([100, 200, 400, 800, 1000, 1000], Enumerable.Range(1, 6).Select(r => Policy.Ceiling(r).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromSeconds(1), Policy.Ceiling(10_000));
    }

    [Fact]
    public void Full_jitter_draws_each_delay_from_zero_to_the_ceiling_with_the_injected_random()
    {
        for (var seed = 0; seed < 200; seed++)
        {
            var random = new Random(seed);
            var replica = new Random(seed);
            for (var retry = 1; retry <= 8; retry++)
            {
                var delay = Policy.Delay(retry, random);
                Assert.InRange(delay, TimeSpan.Zero, Policy.Ceiling(retry));
                Assert.Equal(TimeSpan.FromMilliseconds(Math.Floor(Policy.Ceiling(retry).TotalMilliseconds * replica.NextDouble())), delay);
            }
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_sequence()
    {
        TimeSpan[] Sequence(int seed)
        {
            var random = new Random(seed);
            return [.. Enumerable.Range(1, 5).Select(r => Policy.Delay(r, random))];
        }
        Assert.Equal(Sequence(42), Sequence(42));
        Assert.NotEqual(Sequence(42), Sequence(43));
    }

    [Fact]
    public void Nonsense_figures_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new BackoffPolicy { MaxAttempts = 0 }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => new BackoffPolicy { BaseDelay = TimeSpan.FromSeconds(2), MaxDelay = TimeSpan.FromSeconds(1) }.Validate());
        Assert.Throws<ArgumentOutOfRangeException>(() => Policy.Ceiling(0));
    }
}
