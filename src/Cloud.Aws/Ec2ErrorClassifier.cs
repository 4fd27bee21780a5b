using System.Net;

namespace Fathom.Cloud.Aws;

/// <summary>
/// Sorts EC2's error codes ("Error codes for the Amazon EC2 API") into <see cref="CloudErrorKind"/>s.
/// The code decides where it is known; otherwise the HTTP status: 5xx transient, 4xx invalid.
/// </summary>
public static class Ec2ErrorClassifier
{
    private static readonly HashSet<string> Throttling = new(StringComparer.Ordinal)
    {
        // EC2's own; the others are what AWS's shared retry handlers treat as throttling (the SDKs' "standard" retry mode).
        "RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
        "RequestThrottledException", "TooManyRequestsException", "BandwidthLimitExceeded", "ProvisionedThroughputExceededException",
        // EC2's resource rate limit (a second bucket on some actions), a throttle despite its name.
        "ResourceLimitExceeded",
    };

    private static readonly HashSet<string> Limits = new(StringComparer.Ordinal)
    {
        "AttachmentLimitExceeded", "PrivateIpAddressLimitExceeded", "NetworkInterfaceLimitExceeded",
        "SecurityGroupsPerInterfaceLimitExceeded",
    };

    private static readonly HashSet<string> Transient = new(StringComparer.Ordinal)
    {
        "InternalError", "InternalFailure", "ServiceUnavailable", "Unavailable", "RequestTimeout", "RequestTimeoutException",
    };

    /// <summary>The kind of an EC2 error with <paramref name="code"/> answered with <paramref name="status"/>.</summary>
    public static CloudErrorKind Classify(string? code, HttpStatusCode status)
    {
        if (!string.IsNullOrEmpty(code))
        {
            // Throttling comes with 503 in EC2: the code must win over the status.
            if (Throttling.Contains(code)) return CloudErrorKind.Throttled;
            if (Limits.Contains(code)) return CloudErrorKind.LimitExceeded;
            if (code == "InsufficientFreeAddressesInSubnet") return CloudErrorKind.SubnetFull;
            // InvalidNetworkInterfaceID.NotFound, InvalidAttachmentID.NotFound, InvalidInstanceID.NotFound, InvalidSubnetID.NotFound, InvalidGroup.NotFound, …
            if (code.EndsWith(".NotFound", StringComparison.Ordinal)) return CloudErrorKind.NotFound;
            if (Transient.Contains(code)) return CloudErrorKind.Transient;
        }
        var numeric = (int)status;
        return numeric >= 500 || numeric == 0 ? CloudErrorKind.Transient : CloudErrorKind.Invalid;
    }
}
