using System.Net;
using Fathom.Datastore.Embedded;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Datastore.Tests;

/// <summary>Renewal and expiry on a fake clock, over the real embedded store: deterministic and fast.</summary>
public sealed class SubnetLeaseKeeperTests : IAsyncLifetime
{
    private static readonly SubnetPool Pool = SubnetPool.Parse("10.244.0.0/23", 24); // two subnets: a taken one is felt
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(2);
    private readonly string _directory = Directory.CreateTempSubdirectory("fathom-keeper-").FullName;
    private readonly CountingTime _time = new();
    private readonly CancellationTokenSource _stop = new();
    private EmbeddedSubnetLeaseStore _embedded = null!;
    private FlakyStore _store = null!;

    public async Task InitializeAsync()
    {
        _embedded = await EmbeddedSubnetLeaseStore.OpenAsync(new EmbeddedStoreOptions(_directory) { Ttl = Ttl }, Pool, _time);
        _store = new FlakyStore(_embedded);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _embedded.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private static NodeAttributes Node(string name) => new(name, IPAddress.Parse("192.168.0.1"));

    /// <summary>
    /// Moves the fake clock a second at a time until the keeper has done what is awaited. Between
    /// steps the keeper is let park in its next wait (one timer per store call), so no step of the
    /// clock happens while it is between two waits.
    /// </summary>
    private void StepUntil(Func<bool> done, string what, int maxSeconds = 600)
    {
        for (var i = 0; i < maxSeconds && !done(); i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            Eventually.True(() => _time.Pending == 1 && _store.Calls == _store.SettledCalls, "the keeper to park", TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(1));
        }
        Assert.True(done(), $"after {maxSeconds} fake seconds: {what}");
    }

    /// <summary>A fake clock that counts the one-shot timers made from it and not yet fired (Task.Delay makes one per wait).</summary>
    private sealed class CountingTime() : FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero))
    {
        private int _pending;

        public int Pending => Volatile.Read(ref _pending);

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            Interlocked.Increment(ref _pending);
            return base.CreateTimer(s =>
            {
                Interlocked.Decrement(ref _pending);
                callback(s);
            }, state, dueTime, period);
        }
    }

    [Fact]
    public async Task Renews_every_third_of_the_ttl_so_the_lease_outlives_many_ttls()
    {
        var expired = 0;
        var keeper = new SubnetLeaseKeeper(_store, Node("a"), _time) { LeaseExpired = _ => expired++ };
        var first = await keeper.AcquireAsync();
        var run = keeper.RunAsync(_stop.Token);
        Eventually.True(() => _time.Pending == 1, "the keeper's first wait");

        Assert.Equal(TimeSpan.FromSeconds(40), keeper.RenewInterval);
        var start = _time.GetUtcNow();
        StepUntil(() => _store.Calls >= 1 + 9, "nine renewals");
        Assert.Equal(TimeSpan.FromSeconds(9 * 40), _time.GetUtcNow() - start); // 3 TTLs
        Assert.Equal(first.Subnet, keeper.Current!.Subnet);
        Assert.True(keeper.Current.Expires > _time.GetUtcNow());
        // Another node never got a chance at it.
        Assert.Equal(Pool[1], (await _embedded.AcquireOrRenewAsync(Node("b"))).Subnet);
        Assert.Equal(0, expired);
        Assert.False(run.IsCompleted);
    }

    [Fact]
    public async Task Failed_renewals_are_retried_sooner_then_an_expiry_is_reported_once_and_a_new_subnet_too()
    {
        var expired = new List<SubnetLease>();
        var changed = new List<(SubnetLease, SubnetLease)>();
        var keeper = new SubnetLeaseKeeper(_store, Node("a"), _time)
        {
            LeaseExpired = expired.Add,
            SubnetChanged = (before, after) => changed.Add((before, after)),
        };
        Assert.Equal(TimeSpan.FromSeconds(5), keeper.RetryInterval);
        var first = await keeper.AcquireAsync();
        _ = keeper.RunAsync(_stop.Token);
        Eventually.True(() => _time.Pending == 1, "the keeper's first wait");

        _store.Failing = true;
        StepUntil(() => expired.Count == 1, "the expiry to be reported");
        Assert.InRange(_time.GetUtcNow(), first.Expires!.Value, first.Expires.Value + TimeSpan.FromSeconds(6));
        Assert.True(_store.Calls > 1 + 10, "retries every 5 s after the first failure at 40 s");
        var calls = _store.Calls;
        StepUntil(() => _store.Calls >= calls + 3, "more retries");
        Assert.Single(expired);

        // Meanwhile the pool fills up and another node takes the expired subnet; when the store answers
        // again, "a" gets the one freed since.
        Assert.Equal(Pool[1], (await _embedded.AcquireOrRenewAsync(Node("c"))).Subnet);
        Assert.Equal(first.Subnet, (await _embedded.AcquireOrRenewAsync(Node("b"))).Subnet);
        Assert.True(await _embedded.ReleaseAsync("c"));
        _store.Failing = false;
        StepUntil(() => changed.Count == 1, "the change of subnet to be reported");
        Assert.Equal((first.Subnet, Pool[1]), (changed[0].Item1.Subnet, changed[0].Item2.Subnet));
        Assert.Equal(Pool[1], keeper.Current!.Subnet);
    }

    [Fact]
    public async Task LastFailure_says_why_while_renewals_fail_and_clears_with_the_next_renewal_that_gets_through()
    {
        var keeper = new SubnetLeaseKeeper(_store, Node("a"), _time);
        await keeper.AcquireAsync();
        Assert.Null(keeper.LastFailure);
        _ = keeper.RunAsync(_stop.Token);
        Eventually.True(() => _time.Pending == 1, "the keeper's first wait");

        _store.Failing = true;
        StepUntil(() => keeper.LastFailure is not null, "a failed renewal");
        Assert.IsType<DatastoreUnavailableException>(keeper.LastFailure);
        Assert.Contains("switched off", keeper.LastFailure!.Message);
        Assert.NotNull(keeper.Current);

        _store.Failing = false;
        StepUntil(() => keeper.LastFailure is null, "a renewal through again");
        Assert.True(keeper.Current!.Expires > _time.GetUtcNow());
    }

    /// <summary>The real store behind a switch that makes it unreachable, as an etcd without quorum is.</summary>
    private sealed class FlakyStore(ISubnetLeaseStore inner) : ISubnetLeaseStore
    {
        private int _calls, _settled;

        public volatile bool Failing;

        public int Calls => Volatile.Read(ref _calls);

        public int SettledCalls => Volatile.Read(ref _settled);

        public SubnetPool Pool => inner.Pool;

        public TimeSpan Ttl => inner.Ttl;

        public async Task<SubnetLease> AcquireOrRenewAsync(NodeAttributes node, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _calls);
            try
            {
                if (Failing) throw new DatastoreUnavailableException("test: datastore switched off");
                return await inner.AcquireOrRenewAsync(node, cancellationToken);
            }
            finally
            {
                Interlocked.Increment(ref _settled);
            }
        }

        public Task<bool> ReleaseAsync(string nodeName, CancellationToken cancellationToken = default) => inner.ReleaseAsync(nodeName, cancellationToken);

        public Task<IReadOnlyList<SubnetLease>> ListAsync(CancellationToken cancellationToken = default) => inner.ListAsync(cancellationToken);

        public IAsyncEnumerable<SubnetLeaseEvent> WatchAsync(CancellationToken cancellationToken = default) => inner.WatchAsync(cancellationToken);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
