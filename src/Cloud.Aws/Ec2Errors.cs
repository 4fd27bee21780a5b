using System.Net.Sockets;
using Amazon.Runtime;

namespace Fathom.Cloud.Aws;

/// <summary>Turns what AWSSDK.EC2 throws into <see cref="CloudException"/>s.</summary>
internal static class Ec2Errors
{
    public static CloudException ToCloudException(Exception e)
    {
        switch (e)
        {
            case AmazonServiceException service when !string.IsNullOrEmpty(service.ErrorCode):
                return new CloudException(Ec2ErrorClassifier.Classify(service.ErrorCode, service.StatusCode), service.ErrorCode,
                    service.Message, service.StatusCode == 0 ? null : service.StatusCode, e);
            case AmazonServiceException service when service.StatusCode != 0:
                // An answer without an EC2 error document (a proxy, a load balancer): the status is all there is.
                return new CloudException(Ec2ErrorClassifier.Classify(null, service.StatusCode), $"Http{(int)service.StatusCode}",
                    service.Message, service.StatusCode, e);
            case OperationCanceledException:
                // Not the caller's token (Ec2Async lets that through): the SDK's own time-out.
                return new CloudException(CloudErrorKind.Transient, "RequestTimeout", "EC2 did not answer in time", innerException: e);
        }
        if (IsNetworkFailure(e))
            return new CloudException(CloudErrorKind.Transient, "ConnectionFailed", $"EC2 unreachable: {Innermost(e).Message}", innerException: e);
        // Credentials that cannot be resolved, a request the SDK refuses to send: fixing them takes a person.
        return new CloudException(CloudErrorKind.Invalid, e is AmazonClientException ? "ClientError" : e.GetType().Name, e.Message, innerException: e);
    }

    private static bool IsNetworkFailure(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is HttpRequestException or SocketException or IOException or TimeoutException
                || (x is AmazonServiceException s && s.StatusCode == 0 && x.InnerException is null))
                return true;
        return false;
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
