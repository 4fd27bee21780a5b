using System.Net;

namespace Fathom.Cloud;

/// <summary>What kind of failure a cloud call ended in: what the agent does next depends on it.</summary>
public enum CloudErrorKind
{
    /// <summary>The cloud refused the request rate (EC2: RequestLimitExceeded, Throttling). Retried with backoff.</summary>
    Throttled,

    /// <summary>A per-instance or per-account quota is reached (EC2: AttachmentLimitExceeded, PrivateIpAddressLimitExceeded, NetworkInterfaceLimitExceeded). Not retried: more of the same cannot succeed.</summary>
    LimitExceeded,

    /// <summary>The subnet has no free address left (EC2: InsufficientFreeAddressesInSubnet). Not retried.</summary>
    SubnetFull,

    /// <summary>The resource named does not exist (EC2: InvalidNetworkInterfaceID.NotFound, InvalidAttachmentID.NotFound, …). Not retried.</summary>
    NotFound,

    /// <summary>The cloud failed, not the request: 5xx, a time-out, a refused or reset connection. Retried with backoff.</summary>
    Transient,

    /// <summary>The request itself is wrong (any other 4xx): a bug or a misconfiguration. Not retried.</summary>
    Invalid,
}

/// <summary>
/// The one exception a cloud provider throws: the <see cref="Kind"/> decides what happens next, the
/// provider's own <see cref="Code"/> and message say why, so a pod's failed ADD can name the reason
/// (the limit reached, the subnet full, throttling) rather than a generic "try again later".
/// </summary>
public sealed class CloudException : Exception
{
    /// <summary>Creates an error of <paramref name="kind"/> with the provider's code and message.</summary>
    /// <param name="kind">How the failure is classified.</param>
    /// <param name="code">The provider's error code, e.g. EC2's "AttachmentLimitExceeded".</param>
    /// <param name="message">The provider's message, as it gave it.</param>
    /// <param name="statusCode">The HTTP status of the answer, when there was one.</param>
    /// <param name="innerException">The provider SDK's exception, if any.</param>
    public CloudException(CloudErrorKind kind, string code, string message, HttpStatusCode? statusCode = null, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentException.ThrowIfNullOrEmpty(code);
        Kind = kind;
        Code = code;
        StatusCode = statusCode;
    }

    /// <summary>How the failure is classified.</summary>
    public CloudErrorKind Kind { get; }

    /// <summary>The provider's error code (EC2's <c>Code</c> element; "Imds.404" and the like for the metadata service).</summary>
    public string Code { get; }

    /// <summary>The HTTP status of the answer; null when none came (time-out, connection refused).</summary>
    public HttpStatusCode? StatusCode { get; }

    /// <summary>Whether trying again later can succeed: throttling and transient failures.</summary>
    public bool IsRetryable => Kind is CloudErrorKind.Throttled or CloudErrorKind.Transient;

    /// <summary>
    /// The sentence a pod's failed ADD (CNI code 11, "try again later") carries: what happened in
    /// plain words, then the provider's code and message, e.g. "the instance's ENI or address limit
    /// is reached (AttachmentLimitExceeded: Interface count 4 exceeds the limit for m5.large)".
    /// </summary>
    public string Reason => $"{Describe(Kind)} ({Code}: {Message})";

    /// <summary>What a kind of failure means, in the words an operator reading a pod's events needs.</summary>
    public static string Describe(CloudErrorKind kind) => kind switch
    {
        CloudErrorKind.Throttled => "the cloud API is throttling this account's requests",
        CloudErrorKind.LimitExceeded => "the instance's ENI or address limit is reached",
        CloudErrorKind.SubnetFull => "the subnet has no free addresses",
        CloudErrorKind.NotFound => "a cloud resource the agent expected is gone",
        CloudErrorKind.Transient => "the cloud API is failing or unreachable",
        CloudErrorKind.Invalid => "the cloud API refused the request",
        _ => "the cloud call failed",
    };

    /// <summary>"Code: message", the form a pod's ADD error quotes.</summary>
    public override string ToString() => $"{Code}: {Message}";
}
