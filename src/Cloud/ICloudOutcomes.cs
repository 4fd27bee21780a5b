namespace Fathom.Cloud;

/// <summary>
/// A cloud provider that says when a failed call may have taken effect all the same
/// (<see cref="ResilientCloudProvider"/>): a caller keeping a view of the cloud describes it again then,
/// and may take every other failure — a refusal — as a call that changed nothing. A provider without
/// it gives no such word: every failure of its may have changed something.
/// </summary>
public interface ICloudOutcomes
{
    /// <summary>
    /// Raised when a call that changes the cloud failed in a way that may have taken effect all the
    /// same — a transient failure: a 5xx, a time-out, a connection lost once the request was sent —
    /// whether a retry then succeeded or not. What the caller believes may now differ from the cloud:
    /// IPs assigned twice over (AssignPrivateIpAddresses has no idempotency token), IPs unassigned
    /// whose retry was refused as "not assigned", an ENI attached whose retry was refused. A caller
    /// that keeps a view of the cloud should describe it again. Creates carry an idempotency token
    /// (<see cref="ICloudProvider.CreateEniAsync"/>): their retry returns the ENI an earlier try made,
    /// so they raise it only when the call is given up after such a failure (the ENI may exist,
    /// detached, and no retry with its token comes); throttling (RequestLimitExceeded) never did
    /// anything and does not raise it. Raised on the calling thread, before any retry.
    /// </summary>
    event Action<CloudOperation>? OutcomeUncertain;
}
