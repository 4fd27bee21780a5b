using System.Net;
using System.Net.NetworkInformation;
using System.Runtime.ExceptionServices;

namespace Fathom.Cloud;

/// <summary>
/// Wraps a provider with what DESIGN.md §4 asks of every cloud call: a token bucket per operation,
/// retries with exponential backoff and full jitter for throttled and transient failures (bounded
/// in attempts and total time), and metrics for every request. Time and randomness are injected,
/// so tests run on a <c>FakeTimeProvider</c> and a seeded <see cref="Random"/>.
/// </summary>
/// <remarks>
/// Only <see cref="CloudErrorKind.Throttled"/> and <see cref="CloudErrorKind.Transient"/> are
/// retried: a limit, a full subnet, a missing resource or an invalid request fail the same way
/// the next time. When the attempts or the time run out, the last <see cref="CloudException"/> is
/// thrown as it was, so its code still says why. A transient failure of a mutating call may have
/// taken effect (EC2 can answer 500 after doing the work): creates carry an idempotency token for
/// that; for the others <see cref="OutcomeUncertain"/> (<see cref="ICloudOutcomes"/>) tells the caller, whose reconciliation
/// against <see cref="ICloudProvider.DescribeEnisAsync"/> then sets its view right (e.g. a retried
/// attach that answers InvalidNetworkInterface.InUse, IPs assigned twice over).
/// </remarks>
public sealed class ResilientCloudProvider : ICloudProvider, ICloudOutcomes, IDisposable
{
    private readonly ICloudProvider _inner;
    private readonly CloudResilienceOptions _options;
    private readonly TimeProvider _time;
    private readonly Random _random;
    private readonly Lock _randomGate = new();
    private readonly Dictionary<CloudOperation, TokenBucket> _buckets;
    private readonly bool _ownsMetrics;

    /// <summary>Wraps <paramref name="inner"/>.</summary>
    /// <param name="inner">The provider that makes the requests (one attempt per call).</param>
    /// <param name="options">Rate limits and backoff (default: EC2's figures, see <see cref="CloudResilienceOptions"/>).</param>
    /// <param name="time">Clock for the buckets, the delays and the latencies (default: system).</param>
    /// <param name="random">Jitter source (default: <see cref="Random.Shared"/>); used under a lock, so a seeded instance is safe.</param>
    /// <param name="metrics">Where to record (default: instruments on a meter of its own, disposed with this).</param>
    public ResilientCloudProvider(ICloudProvider inner, CloudResilienceOptions? options = null, TimeProvider? time = null,
        Random? random = null, CloudMetrics? metrics = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _options = options ?? new CloudResilienceOptions();
        _options.Backoff.Validate();
        _time = time ?? TimeProvider.System;
        _random = random ?? Random.Shared;
        _ownsMetrics = metrics is null;
        Metrics = metrics ?? new CloudMetrics();
        _buckets = CloudOperations.All.ToDictionary(op => op, op => new TokenBucket(_options.BucketFor(op), _time));
    }

    /// <summary>The instruments this records on.</summary>
    public CloudMetrics Metrics { get; }

    /// <inheritdoc/>
    public event Action<CloudOperation>? OutcomeUncertain;

    /// <summary>The bucket of one operation (for status pages and tests).</summary>
    public TokenBucket BucketOf(CloudOperation operation) => _buckets[operation];

    /// <inheritdoc/>
    public Task<InstanceIdentity> DescribeSelfAsync(CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DescribeSelf, ct => _inner.DescribeSelfAsync(ct), cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<PhysicalAddress>> DescribeLocalMacsAsync(CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DescribeLocalMacs, ct => _inner.DescribeLocalMacsAsync(ct), cancellationToken);

    /// <inheritdoc/>
    public Task<InstanceLimits> GetInstanceLimitsAsync(string instanceType, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.GetInstanceLimits, ct => _inner.GetInstanceLimitsAsync(instanceType, ct), cancellationToken);

    /// <inheritdoc/>
    public Task<SubnetInfo> DescribeSubnetAsync(string subnetId, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DescribeSubnet, ct => _inner.DescribeSubnetAsync(subnetId, ct), cancellationToken);

    /// <inheritdoc/>
    /// <remarks>One idempotency token for every attempt of this call (unless the caller gave one), so a retry cannot make a second ENI.</remarks>
    public Task<Eni> CreateEniAsync(CreateEniRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var once = request.IdempotencyToken is null ? request with { IdempotencyToken = Guid.NewGuid().ToString("N") } : request;
        return CallAsync(CloudOperation.CreateEni, ct => _inner.CreateEniAsync(once, ct), cancellationToken);
    }

    /// <inheritdoc/>
    public Task<string> AttachEniAsync(string eniId, string instanceId, int deviceIndex, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.AttachEni, ct => _inner.AttachEniAsync(eniId, instanceId, deviceIndex, ct), cancellationToken);

    /// <inheritdoc/>
    public Task DetachEniAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DetachEni, async ct => { await _inner.DetachEniAsync(attachmentId, force, ct).ConfigureAwait(false); return true; }, cancellationToken);

    /// <inheritdoc/>
    public Task DeleteEniAsync(string eniId, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DeleteEni, async ct => { await _inner.DeleteEniAsync(eniId, ct).ConfigureAwait(false); return true; }, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpsAsync(string eniId, int count, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.AssignPrivateIps, ct => _inner.AssignPrivateIpsAsync(eniId, count, ct), cancellationToken);

    /// <inheritdoc/>
    /// <remarks>Under the AssignPrivateIps bucket: it is the same EC2 action.</remarks>
    public Task ReassignPrivateIpAsync(string eniId, IPAddress address, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.AssignPrivateIps, async ct => { await _inner.ReassignPrivateIpAsync(eniId, address, ct).ConfigureAwait(false); return true; }, cancellationToken);

    /// <inheritdoc/>
    public Task UnassignPrivateIpsAsync(string eniId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.UnassignPrivateIps, async ct => { await _inner.UnassignPrivateIpsAsync(eniId, addresses, ct).ConfigureAwait(false); return true; }, cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<Eni>> DescribeEnisAsync(EniQuery query, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DescribeEnis, ct => _inner.DescribeEnisAsync(query, ct), cancellationToken);

    /// <inheritdoc/>
    public Task CreateTagsAsync(string eniId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.CreateTags, async ct => { await _inner.CreateTagsAsync(eniId, tags, ct).ConfigureAwait(false); return true; }, cancellationToken);

    /// <inheritdoc/>
    public Task DeleteTagsAsync(string eniId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default) =>
        CallAsync(CloudOperation.DeleteTags, async ct => { await _inner.DeleteTagsAsync(eniId, keys, ct).ConfigureAwait(false); return true; }, cancellationToken);

    private async Task<T> CallAsync<T>(CloudOperation operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        var backoff = _options.Backoff;
        var bucket = _buckets[operation];
        var started = _time.GetTimestamp();
        var createMayExist = false;
        for (var attempt = 1; ; attempt++)
        {
            Metrics.RateLimitWait(operation, await bucket.TakeAsync(cancellationToken).ConfigureAwait(false));
            var sent = _time.GetTimestamp();
            ExceptionDispatchInfo failure;
            CloudErrorKind kind;
            try
            {
                var result = await call(cancellationToken).ConfigureAwait(false);
                Metrics.Request(operation, CloudMetrics.Success, _time.GetElapsedTime(sent));
                return result;
            }
            catch (CloudException e)
            {
                Metrics.Request(operation, CloudMetrics.Outcome(e.Kind), _time.GetElapsedTime(sent));
                failure = ExceptionDispatchInfo.Capture(e);
                kind = e.Kind;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Metrics.Request(operation, CloudMetrics.Cancelled, _time.GetElapsedTime(sent));
                throw;
            }
            catch (Exception)
            {
                Metrics.Request(operation, CloudMetrics.Error, _time.GetElapsedTime(sent));
                throw;
            }

            if (kind == CloudErrorKind.Transient && operation.IsMutating())
            {
                // A create's retry carries the same idempotency token: it returns the ENI an earlier try made.
                if (operation == CloudOperation.CreateEni) createMayExist = true;
                else OutcomeUncertain?.Invoke(operation);
            }
            var giveUp = kind is not (CloudErrorKind.Throttled or CloudErrorKind.Transient) || attempt >= backoff.MaxAttempts;
            var delay = TimeSpan.Zero;
            if (!giveUp)
            {
                lock (_randomGate) delay = backoff.Delay(attempt, _random);
                giveUp = _time.GetElapsedTime(started) + delay > backoff.MaxElapsed;
            }
            if (giveUp)
            {
                // Unless no retry comes: an ENI an earlier try made stays, detached and unknown to the caller.
                if (createMayExist) OutcomeUncertain?.Invoke(operation);
                // Thrown as it was (stack trace kept): its code says why the call failed.
                failure.Throw();
            }
            Metrics.Retry(operation, kind);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Disposes the metrics if it made them; the inner provider is the caller's.</summary>
    public void Dispose()
    {
        if (_ownsMetrics) Metrics.Dispose();
    }
}
