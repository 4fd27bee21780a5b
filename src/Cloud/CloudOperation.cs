namespace Fathom.Cloud;

/// <summary>
/// The calls of <see cref="ICloudProvider"/>, for rate limits and metrics. Each maps to one
/// cloud API action (named in the docs), which is what the cloud throttles on.
/// </summary>
public enum CloudOperation
{
    /// <summary>Metadata service reads (IMDS); not an EC2 action.</summary>
    DescribeSelf,

    /// <summary>EC2 DescribeInstanceTypes.</summary>
    GetInstanceLimits,

    /// <summary>Metadata service read of the instance's interface MACs (IMDS); not an EC2 action.</summary>
    DescribeLocalMacs,

    /// <summary>EC2 DescribeSubnets.</summary>
    DescribeSubnet,

    /// <summary>EC2 CreateNetworkInterface.</summary>
    CreateEni,

    /// <summary>EC2 AttachNetworkInterface.</summary>
    AttachEni,

    /// <summary>EC2 DetachNetworkInterface.</summary>
    DetachEni,

    /// <summary>EC2 DeleteNetworkInterface.</summary>
    DeleteEni,

    /// <summary>EC2 AssignPrivateIpAddresses.</summary>
    AssignPrivateIps,

    /// <summary>EC2 UnassignPrivateIpAddresses.</summary>
    UnassignPrivateIps,

    /// <summary>EC2 DescribeNetworkInterfaces.</summary>
    DescribeEnis,

    /// <summary>EC2 CreateTags (on an ENI that exists: sticky ENIs, issue 11 §3).</summary>
    CreateTags,

    /// <summary>EC2 DeleteTags.</summary>
    DeleteTags,
}

/// <summary>Facts about <see cref="CloudOperation"/>s.</summary>
public static class CloudOperations
{
    /// <summary>Every operation, in declaration order.</summary>
    public static IReadOnlyList<CloudOperation> All { get; } = Enum.GetValues<CloudOperation>();

    /// <summary>Whether the operation changes state in the cloud (EC2's "mutating" category, which has its own throttling figures).</summary>
    public static bool IsMutating(this CloudOperation operation) => operation switch
    {
        CloudOperation.CreateEni or CloudOperation.AttachEni or CloudOperation.DetachEni or CloudOperation.DeleteEni
            or CloudOperation.AssignPrivateIps or CloudOperation.UnassignPrivateIps
            or CloudOperation.CreateTags or CloudOperation.DeleteTags => true,
        _ => false,
    };

    /// <summary>The name used in metrics and logs: the EC2 action it stands for, or "DescribeSelf" / "DescribeLocalMacs" (IMDS).</summary>
    public static string ActionName(this CloudOperation operation) => operation switch
    {
        CloudOperation.DescribeSelf => "DescribeSelf",
        CloudOperation.GetInstanceLimits => "DescribeInstanceTypes",
        CloudOperation.DescribeLocalMacs => "DescribeLocalMacs",
        CloudOperation.DescribeSubnet => "DescribeSubnets",
        CloudOperation.CreateEni => "CreateNetworkInterface",
        CloudOperation.AttachEni => "AttachNetworkInterface",
        CloudOperation.DetachEni => "DetachNetworkInterface",
        CloudOperation.DeleteEni => "DeleteNetworkInterface",
        CloudOperation.AssignPrivateIps => "AssignPrivateIpAddresses",
        CloudOperation.UnassignPrivateIps => "UnassignPrivateIpAddresses",
        CloudOperation.DescribeEnis => "DescribeNetworkInterfaces",
        CloudOperation.CreateTags => "CreateTags",
        CloudOperation.DeleteTags => "DeleteTags",
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, null),
    };
}
