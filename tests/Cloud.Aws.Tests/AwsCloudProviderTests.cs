using System.Diagnostics.Metrics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Fathom.Lab.Ec2;

namespace Fathom.Cloud.Aws.Tests;

/// <summary>The AWS provider against the lab's emulated EC2 and IMDS, through AWSSDK.EC2 as in production.</summary>
public sealed class AwsCloudProviderTests : IAsyncLifetime
{
    private LabCloud _lab = null!;
    private AwsCloudProvider _cloud = null!;

    public async Task InitializeAsync()
    {
        _lab = await LabCloud.StartAsync();
        _cloud = _lab.ProviderFor(_lab.Large);
    }

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private static readonly IReadOnlyDictionary<string, string> NodeTags = EniTags.For("lab", "node-large", DateTimeOffset.UnixEpoch);

    private Task<Eni> CreateAsync(string? subnetId = null, int secondaries = 0) =>
        _cloud.CreateEniAsync(new CreateEniRequest
        {
            SubnetId = subnetId ?? _lab.Subnet1.SubnetId,
            Description = "fathom node-large",
            Tags = NodeTags,
            SecondaryIpCount = secondaries,
        });

    private static async Task<CloudException> Fails(CloudErrorKind kind, string code, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<CloudException>(call);
        Assert.Equal((kind, code), (e.Kind, e.Code));
        Assert.False(string.IsNullOrEmpty(e.Message));
        return e;
    }

    [Fact]
    public async Task DescribeSelf_reads_the_instance_and_its_primary_ENI_from_IMDS()
    {
        var self = await _cloud.DescribeSelfAsync();
        var large = _lab.Large;
        Assert.Equal(large.InstanceId, self.InstanceId);
        Assert.Equal("m5.large", self.InstanceType);
        Assert.Equal((LabCloud.Az, LabCloud.Region), (self.AvailabilityZone, self.Region));
        Assert.Equal(large.PrimaryNetworkInterfaceId, self.PrimaryEniId);
        Assert.Equal(PhysicalAddress.Parse(large.MacAddress), self.PrimaryMac);
        Assert.Equal(_lab.Subnet1.SubnetId, self.SubnetId);
        Assert.Equal(IPNetwork.Parse("127.0.1.0/24"), self.SubnetCidr);
        Assert.Equal([_lab.Cloud.DefaultSecurityGroupId], self.SecurityGroupIds);
        Assert.Equal("vpc-0123456789abcdef0", self.VpcId);
        Assert.Equal([LabCloud.VpcCidr], self.VpcCidrs);
    }

    [Theory]
    [InlineData("m5.large", 3, 10)]
    [InlineData("c5.4xlarge", 8, 30)]
    [InlineData("t3.small", 3, 4)]
    public async Task Limits_come_from_DescribeInstanceTypes(string type, int enis, int ips) =>
        Assert.Equal(new InstanceLimits(type, enis, ips), await _cloud.GetInstanceLimitsAsync(type));

    [Fact]
    public void The_SDKs_map_of_every_instance_type_is_never_built()
    {
        // The provider seeded it (its constructor ran in InitializeAsync); the pinned SDK still has the
        // private map the seed writes — if a new SDK drops it, this fails and says so, the agent still works.
        Assert.True(SdkConstantMaps.SeedInstanceTypes(), "AWSSDK.Core no longer has ConstantClass.staticFields");
        // A value read from a response is constructed, and equal by value to the SDK's own field.
        var read = Amazon.EC2.InstanceType.FindValue("m5.large");
        Assert.Equal(Amazon.EC2.InstanceType.M5Large, read);
        Assert.True(read == "m5.large");
    }

    [Fact]
    public async Task An_unknown_instance_type_is_invalid() =>
        await Fails(CloudErrorKind.Invalid, "InvalidInstanceType", () => _cloud.GetInstanceLimitsAsync("x9.huge"));

    [Fact]
    public async Task DescribeSubnet_gives_the_CIDR_the_gateway_and_the_free_count()
    {
        var subnet = await _cloud.DescribeSubnetAsync(_lab.Tiny.SubnetId);
        Assert.Equal(IPNetwork.Parse("127.0.3.0/28"), subnet.Cidr);
        Assert.Equal(IPAddress.Parse("127.0.3.1"), subnet.Gateway);
        Assert.Equal(_lab.Tiny.Gateway, subnet.Gateway);
        Assert.Equal((LabCloud.Az, 11), (subnet.AvailabilityZone, subnet.AvailableAddresses));
        await Fails(CloudErrorKind.NotFound, "InvalidSubnetID.NotFound", () => _cloud.DescribeSubnetAsync("subnet-00000000000000000"));
    }

    [Fact]
    public async Task An_ENI_goes_through_its_whole_life()
    {
        var eni = await CreateAsync(secondaries: 2);
        Assert.StartsWith("eni-", eni.EniId);
        Assert.Equal(EniAttachmentState.Detached, eni.AttachmentState);
        Assert.Null(eni.AttachmentId);
        Assert.True(IPNetwork.Parse("127.0.1.0/24").Contains(eni.PrimaryIp));
        Assert.Equal(2, eni.SecondaryIps.Count);
        Assert.Equal((_lab.Subnet1.SubnetId, IPNetwork.Parse("127.0.1.0/24"), IPAddress.Parse("127.0.1.1")), (eni.SubnetId, eni.SubnetCidr, eni.Gateway));
        Assert.Equal([_lab.Cloud.DefaultSecurityGroupId], eni.SecurityGroupIds);
        Assert.Equal("fathom node-large", eni.Description);
        Assert.Equal(NodeTags, eni.Tags);
        Assert.True(_lab.Cloud.TryGetEni(eni.EniId, out var inLab));
        Assert.Equal(PhysicalAddress.Parse(inLab.MacAddress), eni.Mac);

        var attachmentId = await _cloud.AttachEniAsync(eni.EniId, _lab.Large.InstanceId, 1);
        var attached = await _cloud.WaitForAttachmentAsync(eni.EniId, attachmentId);
        Assert.Equal((EniAttachmentState.Attached, attachmentId, _lab.Large.InstanceId, (int?)1),
            (attached.AttachmentState, attached.AttachmentId, attached.InstanceId, attached.DeviceIndex));

        var added = await _cloud.AssignPrivateIpsAsync(eni.EniId, 3);
        Assert.Equal(3, added.Count);
        var described = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)));
        Assert.Equal(5, described.SecondaryIps.Count);
        Assert.Subset(described.SecondaryIps.ToHashSet(), added.ToHashSet());

        await _cloud.UnassignPrivateIpsAsync(eni.EniId, [.. added.Take(2)]);
        described = Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)));
        Assert.Equal(3, described.SecondaryIps.Count);
        Assert.DoesNotContain(added[0], described.SecondaryIps);

        var byTags = await _cloud.DescribeEnisAsync(EniQuery.ByTags(new Dictionary<string, string> { [EniTags.Cluster] = "lab", [EniTags.Node] = "node-large" }));
        Assert.Equal([eni.EniId], byTags.Select(e => e.EniId));
        var byInstance = await _cloud.DescribeEnisAsync(EniQuery.ByInstance(_lab.Large.InstanceId));
        Assert.Equal(new[] { _lab.Large.PrimaryNetworkInterfaceId, eni.EniId }.Order(StringComparer.Ordinal), byInstance.Select(e => e.EniId));
        Assert.Equal(0, byInstance.Single(e => e.EniId == _lab.Large.PrimaryNetworkInterfaceId).DeviceIndex);

        await _cloud.DetachEniAsync(attachmentId);
        described = await _cloud.WaitForDetachmentAsync(eni.EniId);
        Assert.Equal((EniAttachmentState.Detached, (string?)null, (int?)null), (described.AttachmentState, described.InstanceId, described.DeviceIndex));

        await _cloud.DeleteEniAsync(eni.EniId);
        await Fails(CloudErrorKind.NotFound, "InvalidNetworkInterfaceID.NotFound", () => _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId)));
        Assert.Empty(await _cloud.DescribeEnisAsync(EniQuery.ByTags(NodeTags)));
    }

    [Fact]
    public async Task A_slow_attach_shows_as_attaching_until_it_completes()
    {
        var eni = await CreateAsync();
        _lab.Faults.AttachLatency = TimeSpan.FromMilliseconds(800); // long enough to be seen on a loaded 2-core machine
        // The lab answers AttachNetworkInterface only after the latency (EC2 answers at once):
        // watch from a second caller, as the agent's reconciler would.
        var attach = _cloud.AttachEniAsync(eni.EniId, _lab.Large.InstanceId, 2);
        Eni seen;
        while ((seen = (await _cloud.DescribeEnisAsync(EniQuery.ByIds(eni.EniId))).Single()).AttachmentState == EniAttachmentState.Detached
            && !attach.IsCompleted)
            await Task.Delay(10);
        Assert.Equal((EniAttachmentState.Attaching, _lab.Large.InstanceId, (int?)2), (seen.AttachmentState, seen.InstanceId, seen.DeviceIndex));

        var attached = await _cloud.WaitForAttachmentAsync(eni.EniId, seen.AttachmentId!,
            new AttachmentWaitOptions { InitialInterval = TimeSpan.FromMilliseconds(20), Timeout = TimeSpan.FromSeconds(10) });
        Assert.Equal(EniAttachmentState.Attached, attached.AttachmentState);
        Assert.Equal(seen.AttachmentId, await attach);
    }

    [Fact]
    public async Task The_wait_ends_once_the_metadata_service_lists_the_new_ENI()
    {
        await using var lab = await LabCloud.StartAsync(eniVisibilityDelay: TimeSpan.FromSeconds(1));
        var cloud = lab.ProviderFor(lab.Large);
        var eni = await cloud.CreateEniAsync(new CreateEniRequest { SubnetId = lab.Subnet1.SubnetId });
        var attachmentId = await cloud.AttachEniAsync(eni.EniId, lab.Large.InstanceId, 1);
        Assert.Equal([PhysicalAddress.Parse(lab.Large.MacAddress)], await cloud.DescribeLocalMacsAsync()); // attached for EC2, not yet in IMDS

        var attached = await cloud.WaitForAttachmentAsync(eni.EniId, attachmentId, new AttachmentWaitOptions { InitialInterval = TimeSpan.FromMilliseconds(50) });
        Assert.Equal(EniAttachmentState.Attached, attached.AttachmentState);
        Assert.Equal([PhysicalAddress.Parse(lab.Large.MacAddress), eni.Mac], await cloud.DescribeLocalMacsAsync());
    }

    [Fact]
    public async Task Describing_by_filter_reads_every_page()
    {
        var cloud = new AwsCloudProvider(new AwsCloudOptions
        {
            Region = LabCloud.Region,
            ServiceUrl = _lab.Ec2.Url,
            StaticCredentials = new AwsStaticCredentials(Ec2Credentials.Lab.AccessKeyId, Ec2Credentials.Lab.SecretAccessKey),
            DescribePageSize = 5,
        }, _lab.ImdsClientFor(_lab.Large));
        using var _ = cloud;
        var made = new List<string>();
        for (var i = 0; i < 12; i++) made.Add((await CreateAsync()).EniId);
        var found = await cloud.DescribeEnisAsync(EniQuery.ByTags(NodeTags));
        Assert.Equal(made.Order(StringComparer.Ordinal), found.Select(e => e.EniId));
    }

    [Fact]
    public async Task Attaching_past_the_instance_types_ENI_limit_is_LimitExceeded()
    {
        // m5.large: 3 ENIs, the primary included.
        for (var index = 1; index <= 2; index++)
            await _cloud.AttachEniAsync((await CreateAsync()).EniId, _lab.Large.InstanceId, index);
        var e = await Fails(CloudErrorKind.LimitExceeded, "AttachmentLimitExceeded",
            async () => await _cloud.AttachEniAsync((await CreateAsync()).EniId, _lab.Large.InstanceId, 3));
        Assert.Equal(HttpStatusCode.BadRequest, e.StatusCode);
        Assert.Contains("m5.large", e.Message);
    }

    [Fact]
    public async Task Assigning_past_the_addresses_per_ENI_is_LimitExceeded()
    {
        var eni = await CreateAsync();
        await _cloud.AttachEniAsync(eni.EniId, _lab.Large.InstanceId, 1);
        await _cloud.AssignPrivateIpsAsync(eni.EniId, 9); // 10 with the primary: m5.large's figure
        await Fails(CloudErrorKind.LimitExceeded, "PrivateIpAddressLimitExceeded", () => _cloud.AssignPrivateIpsAsync(eni.EniId, 1));
    }

    [Fact]
    public async Task An_exhausted_subnet_is_SubnetFull()
    {
        await CreateAsync(_lab.Tiny.SubnetId, secondaries: 10); // all 11 usable addresses of the /28
        await Fails(CloudErrorKind.SubnetFull, "InsufficientFreeAddressesInSubnet", () => CreateAsync(_lab.Tiny.SubnetId));
    }

    [Fact]
    public async Task Unknown_ids_are_NotFound()
    {
        await Fails(CloudErrorKind.NotFound, "InvalidNetworkInterfaceID.NotFound", () => _cloud.DeleteEniAsync("eni-00000000000000000"));
        await Fails(CloudErrorKind.NotFound, "InvalidAttachmentID.NotFound", () => _cloud.DetachEniAsync("eni-attach-00000000000000000"));
        await Fails(CloudErrorKind.NotFound, "InvalidInstanceID.NotFound", async () => await _cloud.AttachEniAsync((await CreateAsync()).EniId, "i-00000000000000000", 1));
        await Fails(CloudErrorKind.NotFound, "InvalidSubnetID.NotFound", () => CreateAsync("subnet-00000000000000000"));
    }

    [Fact]
    public async Task Other_refusals_are_Invalid()
    {
        var eni = await CreateAsync();
        await Fails(CloudErrorKind.Invalid, "InvalidNetworkInterfaceID.Malformed", () => _cloud.DeleteEniAsync("not-an-eni"));
        await _cloud.AttachEniAsync(eni.EniId, _lab.Large.InstanceId, 1);
        await Fails(CloudErrorKind.Invalid, "InvalidNetworkInterface.InUse", () => _cloud.DeleteEniAsync(eni.EniId));
        // Another zone's subnet cannot hold this node's ENIs.
        var far = await CreateAsync(_lab.OtherAz.SubnetId);
        await Fails(CloudErrorKind.Invalid, "InvalidParameterCombination", () => _cloud.AttachEniAsync(far.EniId, _lab.Large.InstanceId, 2));
    }

    [Fact]
    public async Task Throttling_and_server_errors_are_retryable_kinds()
    {
        _lab.Faults.SetThrottleRate(1, "DescribeNetworkInterfaces");
        var e = await Fails(CloudErrorKind.Throttled, "RequestLimitExceeded", () => _cloud.DescribeEnisAsync(EniQuery.ByInstance(_lab.Large.InstanceId)));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, e.StatusCode);
        Assert.True(e.IsRetryable);

        _lab.Faults.Clear();
        _lab.Faults.SetErrorRate(1, "DescribeSubnets");
        for (var i = 0; i < 4; i++)
        {
            var error = await Assert.ThrowsAsync<CloudException>(() => _cloud.DescribeSubnetAsync(_lab.Subnet1.SubnetId));
            Assert.Equal(CloudErrorKind.Transient, error.Kind);
            Assert.Contains(error.Code, new[] { "InternalError", "Unavailable" });
        }
    }

    [Fact]
    public async Task Through_the_decorator_throttled_calls_are_retried_until_they_succeed()
    {
        using var resilient = new ResilientCloudProvider(_cloud, new CloudResilienceOptions
        {
            Backoff = new BackoffPolicy { MaxAttempts = 30, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(5) },
        }, random: new Random(3));
        var outcomes = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == resilient.Metrics.Meter && instrument.Name == CloudMetrics.RequestsName) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
                if (tag.Key == "outcome") lock (outcomes) outcomes.Add((string)tag.Value!);
        });
        listener.Start();

        _lab.Faults.SetThrottleRate(0.7);
        var eni = await resilient.CreateEniAsync(new CreateEniRequest { SubnetId = _lab.Subnet1.SubnetId, Tags = NodeTags });
        var attachmentId = await resilient.AttachEniAsync(eni.EniId, _lab.Large.InstanceId, 1);
        var attached = await resilient.WaitForAttachmentAsync(eni.EniId, attachmentId);
        var ips = await resilient.AssignPrivateIpsAsync(eni.EniId, 4);
        _lab.Faults.Clear();

        Assert.Equal(EniAttachmentState.Attached, attached.AttachmentState);
        Assert.Equal(4, ips.Count);
        Assert.Contains("throttled", outcomes);
        Assert.True(outcomes.Count(o => o == CloudMetrics.Success) >= 4); // create, attach, at least one describe, assign
        // Exactly one ENI, however many attempts: throttled requests never reach the action.
        Assert.Single(await _cloud.DescribeEnisAsync(EniQuery.ByTags(NodeTags)));
    }

    [Fact]
    public async Task Concurrent_calls_through_the_decorator_all_land_once()
    {
        using var resilient = new ResilientCloudProvider(_cloud, new CloudResilienceOptions
        {
            Mutating = new TokenBucketOptions(5, 50),
            Backoff = new BackoffPolicy { MaxAttempts = 30, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(10) },
        }, random: new Random(5));
        _lab.Faults.SetThrottleRate(0.3);
        _lab.Faults.SetErrorRate(0.1, "CreateNetworkInterface");
        // Errors (500/503) are drawn before the action runs in the lab, like throttling: no create is half done.
        var made = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ =>
            resilient.CreateEniAsync(new CreateEniRequest { SubnetId = _lab.Subnet1.SubnetId, Tags = NodeTags, SecondaryIpCount = 1 })));
        _lab.Faults.Clear();

        Assert.Equal(16, made.Select(e => e.EniId).Distinct().Count());
        Assert.Equal(made.Select(e => e.EniId).Order(StringComparer.Ordinal), (await _cloud.DescribeEnisAsync(EniQuery.ByTags(NodeTags))).Select(e => e.EniId));
        Assert.Equal(32, made.SelectMany(e => e.SecondaryIps.Append(e.PrimaryIp)).Distinct().Count()); // no address handed out twice
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_Transient()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nobody listens there now: connection refused
        var cloud = _lab.ProviderFor(_lab.Large, new Uri($"http://127.0.0.1:{port}/"));
        var e = await Fails(CloudErrorKind.Transient, "ConnectionFailed", () => cloud.DeleteEniAsync("eni-00000000000000000"));
        Assert.Null(e.StatusCode);
    }

    [Fact]
    public async Task Wrong_credentials_are_Invalid_not_retried()
    {
        var cloud = new AwsCloudProvider(new AwsCloudOptions
        {
            Region = LabCloud.Region,
            ServiceUrl = _lab.Ec2.Url,
            StaticCredentials = new AwsStaticCredentials(Ec2Credentials.Lab.AccessKeyId, "wrong"),
        }, _lab.ImdsClientFor(_lab.Large));
        using var _ = cloud;
        var e = await Fails(CloudErrorKind.Invalid, "AuthFailure", () => cloud.GetInstanceLimitsAsync("m5.large"));
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
        Assert.DoesNotContain("wrong", new AwsStaticCredentials("AKIA", "wrong").ToString());
    }

    [Fact]
    public void The_SDK_makes_one_attempt_per_call_and_signs_for_the_region()
    {
        Assert.Equal(0, _cloud.ClientConfig.MaxErrorRetry); // ResilientCloudProvider retries, and counts each attempt
        Assert.Equal(TimeSpan.FromSeconds(10), _cloud.ClientConfig.Timeout);
        Assert.Equal(LabCloud.Region, _cloud.ClientConfig.AuthenticationRegion);
        Assert.StartsWith(_lab.Ec2.Url.ToString().TrimEnd('/'), _cloud.ClientConfig.ServiceURL);

        // Static credentials: the default chain would look for an instance role at 169.254.169.254, off this machine's loopback.
        using var aws = new AwsCloudProvider(new AwsCloudOptions { Region = "eu-west-1", StaticCredentials = new AwsStaticCredentials("AKIA", "secret") },
            _lab.ImdsClientFor(_lab.Large));
        Assert.Equal("eu-west-1", aws.ClientConfig.RegionEndpoint.SystemName);
        Assert.Equal(0, aws.ClientConfig.MaxErrorRetry);
    }

    [Fact]
    public async Task The_region_can_come_from_IMDS()
    {
        using var cloud = await AwsCloudProvider.CreateAsync(new AwsCloudOptions
        {
            ServiceUrl = _lab.Ec2.Url,
            StaticCredentials = new AwsStaticCredentials(Ec2Credentials.Lab.AccessKeyId, Ec2Credentials.Lab.SecretAccessKey),
        }, _lab.ImdsClientFor(_lab.Big));
        Assert.Equal(new InstanceLimits("c5.4xlarge", 8, 30), await cloud.GetInstanceLimitsAsync((await cloud.DescribeSelfAsync()).InstanceType));
    }
}
