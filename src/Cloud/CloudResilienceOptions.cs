namespace Fathom.Cloud;

/// <summary>Rate limits and retries of <see cref="ResilientCloudProvider"/>.</summary>
/// <remarks>
/// The defaults are EC2's documented request-rate buckets ("Request throttling for the Amazon EC2
/// API", request token bucket sizes and refill rates): each action has its own bucket, 200 tokens
/// refilled at 5 per second for mutating actions, 100 at 20 per second for non-mutating ones.
/// EC2 counts them per account and region, shared by every node: the agent's own buckets only keep
/// one node from using the whole allowance; in a large cluster set them lower.
/// </remarks>
public sealed record CloudResilienceOptions
{
    /// <summary>Bucket figures of each mutating operation (Create/Attach/Detach/Delete ENI, Assign/Unassign IPs). Default 200, 5/s.</summary>
    public TokenBucketOptions Mutating { get; init; } = new(200, 5);

    /// <summary>Bucket figures of each describing operation (and of the metadata reads). Default 100, 20/s.</summary>
    public TokenBucketOptions Describe { get; init; } = new(100, 20);

    /// <summary>Figures for single operations, overriding <see cref="Mutating"/> and <see cref="Describe"/>.</summary>
    public IReadOnlyDictionary<CloudOperation, TokenBucketOptions> PerOperation { get; init; } = new Dictionary<CloudOperation, TokenBucketOptions>();

    /// <summary>Backoff of retried calls (throttled or transient failures).</summary>
    public BackoffPolicy Backoff { get; init; } = new();

    /// <summary>The bucket figures that apply to <paramref name="operation"/>.</summary>
    public TokenBucketOptions BucketFor(CloudOperation operation) =>
        PerOperation.TryGetValue(operation, out var own) ? own
        : operation.IsMutating() ? Mutating
        : Describe;
}
