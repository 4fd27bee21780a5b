using System.Diagnostics.Metrics;
using System.Net;

namespace Fathom.Cloud.Tests;

public sealed class ResilientCloudProviderTests : IDisposable
{
    private const int Seed = 1234;
    private readonly SteppingTime _time = new();
    private readonly ScriptedCloudProvider _inner;
    private readonly BackoffPolicy _backoff = new()
    {
        MaxAttempts = 5,
        BaseDelay = TimeSpan.FromMilliseconds(200),
        MaxDelay = TimeSpan.FromSeconds(2),
        MaxElapsed = TimeSpan.FromSeconds(30),
    };
    private ResilientCloudProvider? _cloud;

    public ResilientCloudProviderTests() => _inner = new ScriptedCloudProvider(_time);

    private ResilientCloudProvider Cloud(CloudResilienceOptions? options = null) =>
        _cloud = new ResilientCloudProvider(_inner, options ?? new CloudResilienceOptions { Backoff = _backoff }, _time, new Random(Seed));

    private static CloudException Error(CloudErrorKind kind, string code = "Code") => new(kind, code, $"{code} happened");

    public void Dispose() => _cloud?.Dispose();

    [Fact]
    public async Task Throttling_is_retried_after_full_jitter_delays_drawn_from_the_injected_random()
    {
        _inner.Then(Error(CloudErrorKind.Throttled, "RequestLimitExceeded"), Error(CloudErrorKind.Transient, "InternalError"), null);
        var limits = await _time.DriveAsync(Cloud().GetInstanceLimitsAsync("m5.large"));

        Assert.Equal(new InstanceLimits("m5.large", 3, 10), limits);
        Assert.Equal(3, _inner.Calls.Count);
        var replica = new Random(Seed);
        Assert.Equal([_backoff.Delay(1, replica), _backoff.Delay(2, replica)], _time.Delays);
        Assert.InRange(_time.Delays[0], TimeSpan.Zero, TimeSpan.FromMilliseconds(200));
        Assert.InRange(_time.Delays[1], TimeSpan.Zero, TimeSpan.FromMilliseconds(400));
    }

    [Theory]
    [InlineData(CloudErrorKind.LimitExceeded, "AttachmentLimitExceeded")]
    [InlineData(CloudErrorKind.SubnetFull, "InsufficientFreeAddressesInSubnet")]
    [InlineData(CloudErrorKind.NotFound, "InvalidNetworkInterfaceID.NotFound")]
    [InlineData(CloudErrorKind.Invalid, "InvalidParameterValue")]
    public async Task Failures_that_would_repeat_are_not_retried_and_surface_unchanged(CloudErrorKind kind, string code)
    {
        var error = Error(kind, code);
        _inner.Then(error, null);
        var thrown = await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(Cloud().AttachEniAsync("eni-1", "i-1", 1)));
        Assert.Same(error, thrown);
        Assert.Single(_inner.Calls);
        Assert.Empty(_time.Delays);
    }

    [Fact]
    public async Task Attempts_are_bounded_and_the_last_error_says_why()
    {
        for (var i = 0; i < 10; i++) _inner.Then(Error(CloudErrorKind.Throttled, "RequestLimitExceeded"));
        var thrown = await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(Cloud().AssignPrivateIpsAsync("eni-1", 2)));
        Assert.Equal(("RequestLimitExceeded", CloudErrorKind.Throttled), (thrown.Code, thrown.Kind));
        Assert.Equal(_backoff.MaxAttempts, _inner.Calls.Count);
        Assert.Equal(_backoff.MaxAttempts - 1, _time.Delays.Count);
    }

    [Fact]
    public async Task Total_time_is_bounded_even_with_attempts_left()
    {
        for (var i = 0; i < 10; i++) _inner.Then(Error(CloudErrorKind.Transient, "Unavailable"));
        _inner.Latency = TimeSpan.FromSeconds(4);
        var options = new CloudResilienceOptions { Backoff = _backoff with { MaxAttempts = 10, MaxElapsed = TimeSpan.FromSeconds(10) } };
        var started = _time.GetUtcNow();
        await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(Cloud(options).DescribeSubnetAsync("subnet-1")));
        // 4 s per attempt and delays under 0.2 s, then 0.4 s: the second retry starts at about 8.2 s; after the
        // third attempt (about 12.2 s) any delay ends past 10 s, so no fourth attempt although seven are left.
        Assert.Equal(3, _inner.Calls.Count);
        Assert.InRange(_time.GetUtcNow() - started, TimeSpan.FromSeconds(12), TimeSpan.FromSeconds(12.6));
    }

    [Fact]
    public async Task Cancelling_during_the_backoff_stops_the_retries()
    {
        _inner.Then(Error(CloudErrorKind.Throttled, "RequestLimitExceeded"), null);
        using var cancel = new CancellationTokenSource();
        var call = Cloud().DeleteEniAsync("eni-1", cancel.Token);
        Assert.Single(_inner.Calls);
        Assert.False(call.IsCompleted); // in its backoff delay, on the fake clock
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call);
        _time.Advance(TimeSpan.FromMinutes(1));
        Assert.Single(_inner.Calls);
    }

    [Fact]
    public async Task Cancelling_during_a_request_is_not_retried()
    {
        using var cancel = new CancellationTokenSource();
        _inner.During = _ => cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _time.DriveAsync(Cloud().DescribeEnisAsync(EniQuery.ByInstance("i-1"), cancel.Token)));
        Assert.Single(_inner.Calls);
    }

    [Fact]
    public async Task Each_operation_waits_for_its_own_bucket()
    {
        var options = new CloudResilienceOptions
        {
            Backoff = _backoff,
            Mutating = new TokenBucketOptions(2, 1),
            PerOperation = new Dictionary<CloudOperation, TokenBucketOptions> { [CloudOperation.DeleteEni] = new(1, 10) },
        };
        var cloud = Cloud(options);
        await cloud.DetachEniAsync("a-1");
        await cloud.DetachEniAsync("a-2");
        var third = cloud.DetachEniAsync("a-3");
        Assert.False(third.IsCompleted);
        // Another action's bucket is untouched: delete goes straight through.
        await cloud.DeleteEniAsync("eni-1");
        await _time.DriveAsync(third);
        Assert.Equal([TimeSpan.FromSeconds(1)], _time.Delays);
        Assert.Equal(new TokenBucketOptions(1, 10), cloud.BucketOf(CloudOperation.DeleteEni).Options);
        Assert.Equal(new TokenBucketOptions(100, 20), cloud.BucketOf(CloudOperation.DescribeEnis).Options);
    }

    [Fact]
    public async Task A_create_keeps_one_idempotency_token_across_its_retries()
    {
        _inner.Then(Error(CloudErrorKind.Transient, "InternalError"), Error(CloudErrorKind.Transient, "InternalError"), null);
        await _time.DriveAsync(Cloud().CreateEniAsync(new CreateEniRequest { SubnetId = "subnet-1" }));
        var tokens = _inner.Calls.Select(c => ((CreateEniRequest)c.Argument!).IdempotencyToken).ToList();
        Assert.Equal(3, tokens.Count);
        Assert.NotNull(tokens[0]);
        Assert.All(tokens, t => Assert.Equal(tokens[0], t));

        await Cloud().CreateEniAsync(new CreateEniRequest { SubnetId = "subnet-1", IdempotencyToken = "mine" });
        Assert.Equal("mine", ((CreateEniRequest)_inner.Calls[^1].Argument!).IdempotencyToken);
    }

    [Fact]
    public async Task A_change_that_failed_transiently_is_said_to_be_uncertain_even_when_its_retry_succeeds()
    {
        var cloud = Cloud();
        var uncertain = new List<CloudOperation>();
        cloud.OutcomeUncertain += uncertain.Add;

        // The first answer lost (500), the retry done: the first attempt may have unassigned them already.
        _inner.Then(Error(CloudErrorKind.Transient, "InternalError"), null);
        await _time.DriveAsync(cloud.UnassignPrivateIpsAsync("eni-1", [IPAddress.Parse("10.0.1.5")]));
        Assert.Equal([CloudOperation.UnassignPrivateIps], uncertain);

        // Throttling did nothing; a read changes nothing; a create's retries carry one idempotency token.
        _inner.Then(Error(CloudErrorKind.Throttled, "RequestLimitExceeded"), null);
        await _time.DriveAsync(cloud.AssignPrivateIpsAsync("eni-1", 1));
        _inner.Then(Error(CloudErrorKind.Transient, "InternalError"), null);
        await _time.DriveAsync(cloud.DescribeEnisAsync(EniQuery.ByIds("eni-1")));
        _inner.Then(Error(CloudErrorKind.Transient, "InternalError"), null);
        await _time.DriveAsync(cloud.CreateEniAsync(new CreateEniRequest { SubnetId = "subnet-1" }));
        Assert.Equal([CloudOperation.UnassignPrivateIps], uncertain);

        // A create given up after a transient failure says so once: an earlier try may have made the ENI.
        _inner.Then([Error(CloudErrorKind.Transient, "InternalError"), .. Enumerable.Repeat<Exception?>(Error(CloudErrorKind.Throttled, "RequestLimitExceeded"), _backoff.MaxAttempts - 1)]);
        await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(cloud.CreateEniAsync(new CreateEniRequest { SubnetId = "subnet-1" })));
        Assert.Equal([CloudOperation.UnassignPrivateIps, CloudOperation.CreateEni], uncertain);

        // Every transient failure of an attach says so, the last one too.
        _inner.Then([.. Enumerable.Repeat<Exception?>(Error(CloudErrorKind.Transient, "RequestTimeout"), _backoff.MaxAttempts)]);
        await Assert.ThrowsAsync<CloudException>(() => _time.DriveAsync(cloud.AttachEniAsync("eni-1", "i-1", 1)));
        Assert.Equal(_backoff.MaxAttempts, uncertain.Count(op => op == CloudOperation.AttachEni));
    }

    [Fact]
    public async Task Every_request_is_counted_by_action_and_outcome_with_its_latency()
    {
        var cloud = Cloud();
        var requests = new List<(long Value, string Action, string Outcome)>();
        var durations = new List<(double Value, string Action, string Outcome)>();
        var retries = new List<(string Action, string Outcome)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == cloud.Metrics.Meter) l.EnableMeasurementEvents(instrument);
        };
        string Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string key)
        {
            foreach (var t in tags) if (t.Key == key) return (string)t.Value!;
            return "";
        }
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            if (instrument.Name == CloudMetrics.RequestsName) lock (requests) requests.Add((value, Tag(tags, "action"), Tag(tags, "outcome")));
            if (instrument.Name == CloudMetrics.RetriesName) lock (retries) retries.Add((Tag(tags, "action"), Tag(tags, "outcome")));
        });
        listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            if (instrument.Name == CloudMetrics.DurationName) lock (durations) durations.Add((value, Tag(tags, "action"), Tag(tags, "outcome")));
        });
        listener.Start();

        _inner.Latency = TimeSpan.FromMilliseconds(150);
        _inner.Then(Error(CloudErrorKind.Throttled, "RequestLimitExceeded"), null, Error(CloudErrorKind.SubnetFull, "InsufficientFreeAddressesInSubnet"));
        await _time.DriveAsync(cloud.AttachEniAsync("eni-1", "i-1", 1));
        await Assert.ThrowsAsync<CloudException>(() => cloud.CreateEniAsync(new CreateEniRequest { SubnetId = "subnet-1" }));

        Assert.Equal(
            [(1L, "AttachNetworkInterface", "throttled"), (1L, "AttachNetworkInterface", "success"), (1L, "CreateNetworkInterface", "subnet_full")],
            requests);
        Assert.Equal([("AttachNetworkInterface", "throttled")], retries);
        Assert.Equal(3, durations.Count);
        Assert.All(durations, d => Assert.Equal(0.15, d.Value, precision: 6));
        Assert.Equal(requests.Select(r => (r.Action, r.Outcome)), durations.Select(d => (d.Action, d.Outcome)));
    }

    [Fact]
    public async Task Other_exceptions_pass_through_unretried()
    {
        _inner.Then(new InvalidOperationException("provider bug"), null);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Cloud().DescribeSelfAsync());
        Assert.Single(_inner.Calls);
    }

    [Fact]
    public void Default_figures_are_EC2s_request_buckets()
    {
        var options = new CloudResilienceOptions();
        Assert.Equal(new TokenBucketOptions(200, 5), options.BucketFor(CloudOperation.AttachEni));
        Assert.Equal(new TokenBucketOptions(100, 20), options.BucketFor(CloudOperation.DescribeEnis));
        Assert.All(CloudOperations.All.Where(o => o.IsMutating()), o => Assert.Equal(options.Mutating, options.BucketFor(o)));
        Assert.Equal(8, CloudOperations.All.Count(o => o.IsMutating()));
    }

    [Fact]
    public void Errors_quote_code_and_message()
    {
        var e = new CloudException(CloudErrorKind.LimitExceeded, "AttachmentLimitExceeded", "Interface count 4 exceeds the limit for m5.large", HttpStatusCode.BadRequest);
        Assert.Equal("AttachmentLimitExceeded: Interface count 4 exceeds the limit for m5.large", e.ToString());
        Assert.False(e.IsRetryable);
        Assert.Equal("the instance's ENI or address limit is reached (AttachmentLimitExceeded: Interface count 4 exceeds the limit for m5.large)", e.Reason);
        Assert.All(Enum.GetValues<CloudErrorKind>(), k => Assert.NotEqual("the cloud call failed", CloudException.Describe(k)));
        Assert.True(new CloudException(CloudErrorKind.Throttled, "RequestLimitExceeded", "slow down").IsRetryable);
    }
}
