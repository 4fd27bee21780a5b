using System.Net;

namespace Fathom.Cloud.Aws.Tests;

public sealed class Ec2ErrorClassifierTests
{
    [Theory]
    [InlineData("RequestLimitExceeded", 503, CloudErrorKind.Throttled)]
    [InlineData("Throttling", 400, CloudErrorKind.Throttled)]
    [InlineData("ResourceLimitExceeded", 400, CloudErrorKind.Throttled)]
    [InlineData("AttachmentLimitExceeded", 400, CloudErrorKind.LimitExceeded)]
    [InlineData("PrivateIpAddressLimitExceeded", 400, CloudErrorKind.LimitExceeded)]
    [InlineData("NetworkInterfaceLimitExceeded", 400, CloudErrorKind.LimitExceeded)]
    [InlineData("InsufficientFreeAddressesInSubnet", 400, CloudErrorKind.SubnetFull)]
    [InlineData("InvalidNetworkInterfaceID.NotFound", 400, CloudErrorKind.NotFound)]
    [InlineData("InvalidAttachmentID.NotFound", 400, CloudErrorKind.NotFound)]
    [InlineData("InvalidInstanceID.NotFound", 400, CloudErrorKind.NotFound)]
    [InlineData("InternalError", 500, CloudErrorKind.Transient)]
    [InlineData("Unavailable", 503, CloudErrorKind.Transient)]
    [InlineData("SomethingNew", 502, CloudErrorKind.Transient)]
    [InlineData(null, 504, CloudErrorKind.Transient)]
    [InlineData("InvalidParameterValue", 400, CloudErrorKind.Invalid)]
    [InlineData("InvalidNetworkInterfaceID.Malformed", 400, CloudErrorKind.Invalid)]
    [InlineData("AuthFailure", 401, CloudErrorKind.Invalid)]
    [InlineData("UnauthorizedOperation", 403, CloudErrorKind.Invalid)]
    public void Codes_decide_then_the_status(string? code, int status, CloudErrorKind kind) =>
        Assert.Equal(kind, Ec2ErrorClassifier.Classify(code, (HttpStatusCode)status));
}
