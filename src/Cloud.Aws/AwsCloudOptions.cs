namespace Fathom.Cloud.Aws;

/// <summary>How <see cref="AwsCloudProvider"/> reaches EC2.</summary>
public sealed record AwsCloudOptions
{
    /// <summary>The region, e.g. us-east-1; null: the instance's own, from IMDS (<see cref="AwsCloudProvider.CreateAsync"/>).</summary>
    public string? Region { get; init; }

    /// <summary>An EC2 endpoint other than the region's (the lab's emulated EC2, a VPC endpoint); null: the region's public endpoint.</summary>
    public Uri? ServiceUrl { get; init; }

    /// <summary>A fixed key pair (the lab's); null: the SDK's default chain (environment, profile, web identity / IRSA, the instance role through IMDS).</summary>
    public AwsStaticCredentials? StaticCredentials { get; init; }

    /// <summary>Bound on each EC2 request (default 10 s); a request that takes longer fails as <see cref="CloudErrorKind.Transient"/>.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Page size of DescribeNetworkInterfaces when listing by filter (5–1000, default 1000).</summary>
    public int DescribePageSize { get; init; } = 1000;
}

/// <summary>An access key pair.</summary>
/// <param name="AccessKeyId">AWS_ACCESS_KEY_ID.</param>
/// <param name="SecretAccessKey">AWS_SECRET_ACCESS_KEY.</param>
public sealed record AwsStaticCredentials(string AccessKeyId, string SecretAccessKey)
{
    /// <summary>The key id only: the secret stays out of logs.</summary>
    public override string ToString() => $"AwsStaticCredentials {{ AccessKeyId = {AccessKeyId} }}";
}
