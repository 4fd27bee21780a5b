using System.Net;

namespace Fathom.Lab.Ec2;

/// <summary>
/// An EC2 error: the code and message the API returns in its XML error document, and the HTTP
/// status EC2 uses for it. Every failed action of <see cref="Ec2Cloud"/> throws this type only.
/// </summary>
public sealed class Ec2Exception : Exception
{
    /// <summary>EC2's error code, e.g. "InvalidNetworkInterfaceID.NotFound".</summary>
    public string Code { get; }

    /// <summary>The HTTP status the API answers with.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>Creates an error with EC2's code, message and HTTP status.</summary>
    public Ec2Exception(string code, string message, HttpStatusCode statusCode = HttpStatusCode.BadRequest, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        StatusCode = statusCode;
    }
}

/// <summary>
/// The EC2 error codes the lab returns, spelled as in the EC2 API reference
/// ("Error codes for the Amazon EC2 API").
/// </summary>
public static class Ec2ErrorCodes
{
    public const string AttachmentLimitExceeded = "AttachmentLimitExceeded";
    public const string PrivateIpAddressLimitExceeded = "PrivateIpAddressLimitExceeded";
    public const string InsufficientFreeAddressesInSubnet = "InsufficientFreeAddressesInSubnet";
    public const string InvalidNetworkInterfaceIdNotFound = "InvalidNetworkInterfaceID.NotFound";
    public const string InvalidNetworkInterfaceIdMalformed = "InvalidNetworkInterfaceID.Malformed";
    public const string InvalidNetworkInterfaceInUse = "InvalidNetworkInterface.InUse";
    public const string InvalidAttachmentIdNotFound = "InvalidAttachmentID.NotFound";
    public const string InvalidInstanceIdNotFound = "InvalidInstanceID.NotFound";
    public const string InvalidInstanceIdMalformed = "InvalidInstanceID.Malformed";
    public const string InvalidSubnetIdNotFound = "InvalidSubnetID.NotFound";
    public const string InvalidGroupNotFound = "InvalidGroup.NotFound";
    public const string InvalidIpAddressInUse = "InvalidIPAddress.InUse";
    public const string InvalidSubnetRange = "InvalidSubnet.Range";
    public const string InvalidSubnetConflict = "InvalidSubnet.Conflict";
    public const string InvalidGroupDuplicate = "InvalidGroup.Duplicate";
    public const string TagLimitExceeded = "TagLimitExceeded";
    public const string InvalidInstanceType = "InvalidInstanceType";
    public const string InvalidParameterValue = "InvalidParameterValue";
    public const string InvalidParameterCombination = "InvalidParameterCombination";
    public const string InvalidPaginationToken = "InvalidPaginationToken";
    public const string FilterLimitExceeded = "FilterLimitExceeded";
    public const string InvalidId = "InvalidID";
    public const string MissingParameter = "MissingParameter";
    public const string IncorrectState = "IncorrectState";
    public const string IdempotentParameterMismatch = "IdempotentParameterMismatch";
    public const string OperationNotPermitted = "OperationNotPermitted";
    public const string InvalidAction = "InvalidAction";
    public const string AuthFailure = "AuthFailure";
    public const string RequestExpired = "RequestExpired";
    public const string RequestLimitExceeded = "RequestLimitExceeded";
    public const string InternalError = "InternalError";
    public const string Unavailable = "Unavailable";
}
