using System.Collections.Concurrent;
using System.Net;
using System.Net.NetworkInformation;
using Amazon;
using Amazon.EC2;
using Amazon.EC2.Model;
using Amazon.Runtime;
using Ec2NetworkInterface = Amazon.EC2.Model.NetworkInterface;

namespace Fathom.Cloud.Aws;

/// <summary>
/// <see cref="ICloudProvider"/> on AWS: EC2 through AWSSDK.EC2, identity through IMDSv2
/// (<see cref="ImdsClient"/>). One request per call: the SDK's own retries are off
/// (<c>MaxErrorRetry = 0</c>) because <see cref="ResilientCloudProvider"/> retries with the
/// agent's budget and metrics; wrap this in one. Every SDK failure becomes a <see cref="CloudException"/>
/// (<see cref="Ec2ErrorClassifier"/>).
/// </summary>
public sealed class AwsCloudProvider : ICloudProvider, IDisposable
{
    private readonly AmazonEC2Client _ec2;
    private readonly ImdsClient _imds;
    private readonly AwsCloudOptions _options;
    // A subnet's CIDR never changes: learnt once per subnet, it spares a DescribeSubnets per describe.
    private readonly ConcurrentDictionary<string, IPNetwork> _subnetCidrs = new(StringComparer.Ordinal);

    /// <summary>A provider for <see cref="AwsCloudOptions.Region"/>, which must be set (else use <see cref="CreateAsync"/>).</summary>
    /// <param name="options">Region, endpoint, credentials, time-out.</param>
    /// <param name="imds">The metadata client for <see cref="DescribeSelfAsync"/>; the caller keeps ownership.</param>
    /// <exception cref="CloudException">Invalid, code NoCredentials: no static credentials given and the SDK's default chain found none.</exception>
    public AwsCloudProvider(AwsCloudOptions options, ImdsClient imds)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(imds);
        if (string.IsNullOrEmpty(options.Region))
            throw new ArgumentException("a region is needed (or use CreateAsync to read it from IMDS)", nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.DescribePageSize, 5, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.DescribePageSize, 1000, nameof(options));
        _options = options;
        _imds = imds;
        SdkConstantMaps.SeedInstanceTypes();
        var config = new AmazonEC2Config
        {
            // The decorator retries (ResilientCloudProvider): retries here would multiply its attempts and hide throttling from its metrics.
            MaxErrorRetry = 0,
            Timeout = options.RequestTimeout,
        };
        if (options.ServiceUrl is { } url)
        {
            config.ServiceURL = url.ToString();
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }
        try
        {
            // The SDK (v4) resolves the default chain here, not at the first call: a node without
            // credentials fails at start, after the chain's own IMDS time-outs.
            _ec2 = options.StaticCredentials is { } key
                ? new AmazonEC2Client(new BasicAWSCredentials(key.AccessKeyId, key.SecretAccessKey), config)
                : new AmazonEC2Client(config);
        }
        catch (AmazonClientException e)
        {
            throw new CloudException(CloudErrorKind.Invalid, "NoCredentials", e.Message, innerException: e);
        }
    }

    /// <summary>The SDK client's configuration as built (tests check what the options turned into).</summary>
    internal Amazon.Runtime.IClientConfig ClientConfig => _ec2.Config;

    /// <summary>A provider whose region, when <see cref="AwsCloudOptions.Region"/> is null, is the instance's own (IMDS placement/region).</summary>
    public static async Task<AwsCloudProvider> CreateAsync(AwsCloudOptions options, ImdsClient imds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(imds);
        if (string.IsNullOrEmpty(options.Region))
            options = options with { Region = (await imds.GetAsync("placement/region", cancellationToken).ConfigureAwait(false)).Trim() };
        return new AwsCloudProvider(options, imds);
    }

    /// <inheritdoc/>
    public Task<InstanceIdentity> DescribeSelfAsync(CancellationToken cancellationToken = default) =>
        _imds.GetIdentityAsync(cancellationToken);

    /// <inheritdoc/>
    public Task<IReadOnlyList<PhysicalAddress>> DescribeLocalMacsAsync(CancellationToken cancellationToken = default) =>
        _imds.GetInterfaceMacsAsync(cancellationToken);

    /// <inheritdoc/>
    public Task<InstanceLimits> GetInstanceLimitsAsync(string instanceType, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(instanceType);
        return Ec2Async(async ct =>
        {
            var response = await _ec2.DescribeInstanceTypesAsync(new DescribeInstanceTypesRequest { InstanceTypes = [instanceType] }, ct).ConfigureAwait(false);
            var info = response.InstanceTypes?.FirstOrDefault(t => t.InstanceType == instanceType)?.NetworkInfo;
            if (info?.MaximumNetworkInterfaces is not { } enis || info.Ipv4AddressesPerInterface is not { } ips)
                throw new CloudException(CloudErrorKind.Invalid, "InvalidInstanceType", $"EC2 gave no network limits for instance type {instanceType}");
            return new InstanceLimits(instanceType, enis, ips);
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<SubnetInfo> DescribeSubnetAsync(string subnetId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(subnetId);
        return Ec2Async(async ct =>
        {
            var response = await _ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { SubnetIds = [subnetId] }, ct).ConfigureAwait(false);
            var subnet = response.Subnets?.FirstOrDefault(s => s.SubnetId == subnetId)
                ?? throw new CloudException(CloudErrorKind.NotFound, "InvalidSubnetID.NotFound", $"The subnet ID '{subnetId}' does not exist");
            var cidr = ParseCidr(subnet.CidrBlock, subnetId);
            _subnetCidrs[subnetId] = cidr;
            return new SubnetInfo(subnetId, cidr, subnet.AvailabilityZone ?? "", subnet.AvailableIpAddressCount ?? 0);
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<Eni> CreateEniAsync(CreateEniRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrEmpty(request.SubnetId, nameof(request));
        ArgumentOutOfRangeException.ThrowIfNegative(request.SecondaryIpCount, nameof(request));
        return Ec2Async(async ct =>
        {
            // The subnet's CIDR first: a DescribeSubnets failing after the create would fail a call
            // whose ENI exists, and its retry would make a second one where ClientToken is not honoured.
            var cidr = await SubnetCidrAsync(request.SubnetId, ct).ConfigureAwait(false);
            var create = new CreateNetworkInterfaceRequest
            {
                SubnetId = request.SubnetId,
                Description = request.Description,
                ClientToken = request.IdempotencyToken,
            };
            if (request.SecurityGroupIds.Count > 0) create.Groups = [.. request.SecurityGroupIds];
            if (request.SecondaryIpCount > 0) create.SecondaryPrivateIpAddressCount = request.SecondaryIpCount;
            // Tagged in the same call, not by a CreateTags afterwards: an agent killed in between would leak an untagged ENI no sweep finds.
            if (request.Tags.Count > 0)
                create.TagSpecifications =
                [
                    new TagSpecification
                    {
                        ResourceType = ResourceType.NetworkInterface,
                        Tags = [.. request.Tags.Select(t => new Tag(t.Key, t.Value))],
                    },
                ];
            var response = await _ec2.CreateNetworkInterfaceAsync(create, ct).ConfigureAwait(false);
            var eni = response.NetworkInterface
                ?? throw new CloudException(CloudErrorKind.Transient, "EmptyResponse", "CreateNetworkInterface answered without a network interface");
            return ToEni(eni, cidr);
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<string> AttachEniAsync(string eniId, string instanceId, int deviceIndex, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentException.ThrowIfNullOrEmpty(instanceId);
        return Ec2Async(async ct =>
        {
            var response = await _ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
            {
                NetworkInterfaceId = eniId,
                InstanceId = instanceId,
                DeviceIndex = deviceIndex,
            }, ct).ConfigureAwait(false);
            return string.IsNullOrEmpty(response.AttachmentId)
                ? throw new CloudException(CloudErrorKind.Transient, "EmptyResponse", "AttachNetworkInterface answered without an attachment id")
                : response.AttachmentId;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task DetachEniAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(attachmentId);
        return Ec2Async(async ct =>
        {
            await _ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = attachmentId, Force = force ? true : null }, ct)
                .ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task DeleteEniAsync(string eniId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        return Ec2Async(async ct =>
        {
            await _ec2.DeleteNetworkInterfaceAsync(new DeleteNetworkInterfaceRequest { NetworkInterfaceId = eniId }, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpsAsync(string eniId, int count, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        return Ec2Async<IReadOnlyList<IPAddress>>(async ct =>
        {
            var response = await _ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
            {
                NetworkInterfaceId = eniId,
                SecondaryPrivateIpAddressCount = count,
            }, ct).ConfigureAwait(false);
            return [.. (response.AssignedPrivateIpAddresses ?? []).Select(a => ParseIp(a.PrivateIpAddress, eniId))];
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task ReassignPrivateIpAsync(string eniId, IPAddress address, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentNullException.ThrowIfNull(address);
        return Ec2Async(async ct =>
        {
            await _ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
            {
                NetworkInterfaceId = eniId,
                PrivateIpAddresses = [address.ToString()],
                AllowReassignment = true,
            }, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task UnassignPrivateIpsAsync(string eniId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0) return Task.CompletedTask;
        return Ec2Async(async ct =>
        {
            await _ec2.UnassignPrivateIpAddressesAsync(new UnassignPrivateIpAddressesRequest
            {
                NetworkInterfaceId = eniId,
                PrivateIpAddresses = [.. addresses.Select(a => a.ToString())],
            }, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<Eni>> DescribeEnisAsync(EniQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.EniIds is { Count: 0 }) return Task.FromResult<IReadOnlyList<Eni>>([]);
        return Ec2Async<IReadOnlyList<Eni>>(async ct =>
        {
            var filters = new List<Filter>();
            foreach (var (key, value) in query.Tags ?? new Dictionary<string, string>())
                filters.Add(new Filter("tag:" + key, [value]));
            foreach (var key in query.TagKeys ?? [])
                filters.Add(new Filter("tag-key", [key]));
            if (query.AttachedInstanceId is { } instanceId)
                filters.Add(new Filter("attachment.instance-id", [instanceId]));
            var found = new List<Ec2NetworkInterface>();
            string? next = null;
            do
            {
                var request = new DescribeNetworkInterfacesRequest { NextToken = next };
                if (filters.Count > 0) request.Filters = filters;
                // EC2 refuses MaxResults together with ids; a list of ids is answered in one page.
                if (query.EniIds is { } ids) request.NetworkInterfaceIds = [.. ids];
                else request.MaxResults = _options.DescribePageSize;
                var response = await _ec2.DescribeNetworkInterfacesAsync(request, ct).ConfigureAwait(false);
                found.AddRange(response.NetworkInterfaces ?? []);
                next = string.IsNullOrEmpty(response.NextToken) ? null : response.NextToken;
            }
            while (next is not null);

            await LearnSubnetsAsync(found.Select(e => e.SubnetId), ct).ConfigureAwait(false);
            return [.. found.Select(e => ToEni(e, _subnetCidrs[e.SubnetId])).OrderBy(e => e.EniId, StringComparer.Ordinal)];
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task CreateTagsAsync(string eniId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentNullException.ThrowIfNull(tags);
        if (tags.Count == 0) return Task.CompletedTask;
        return Ec2Async(async ct =>
        {
            await _ec2.CreateTagsAsync(new CreateTagsRequest
            {
                Resources = [eniId],
                Tags = [.. tags.Select(t => new Tag(t.Key, t.Value))],
            }, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public Task DeleteTagsAsync(string eniId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        ArgumentNullException.ThrowIfNull(keys);
        // DeleteTags without tags deletes every tag of the resource (EC2 API reference): never what is meant here.
        if (keys.Count == 0) return Task.CompletedTask;
        return Ec2Async(async ct =>
        {
            await _ec2.DeleteTagsAsync(new DeleteTagsRequest
            {
                Resources = [eniId],
                Tags = [.. keys.Select(k => new Tag { Key = k })],
            }, ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);
    }

    private async Task<IPNetwork> SubnetCidrAsync(string subnetId, CancellationToken cancellationToken)
    {
        await LearnSubnetsAsync([subnetId], cancellationToken).ConfigureAwait(false);
        return _subnetCidrs[subnetId];
    }

    /// <summary>Fills the CIDR cache for subnets not in it yet, in one DescribeSubnets.</summary>
    private async Task LearnSubnetsAsync(IEnumerable<string> subnetIds, CancellationToken cancellationToken)
    {
        var missing = subnetIds.Where(id => !_subnetCidrs.ContainsKey(id)).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count == 0) return;
        var response = await _ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { SubnetIds = missing }, cancellationToken).ConfigureAwait(false);
        foreach (var subnet in response.Subnets ?? [])
            _subnetCidrs[subnet.SubnetId] = ParseCidr(subnet.CidrBlock, subnet.SubnetId);
        foreach (var id in missing.Where(id => !_subnetCidrs.ContainsKey(id)))
            throw new CloudException(CloudErrorKind.NotFound, "InvalidSubnetID.NotFound", $"The subnet ID '{id}' does not exist");
    }

    /// <summary>Runs one EC2 call and turns whatever the SDK throws into a <see cref="CloudException"/>.</summary>
    private static async Task<T> Ec2Async<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not CloudException && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            throw Ec2Errors.ToCloudException(e);
        }
    }

    internal static Eni ToEni(Ec2NetworkInterface eni, IPNetwork subnetCidr)
    {
        var attachment = eni.Attachment;
        var state = attachment?.Status?.Value switch
        {
            "attaching" => EniAttachmentState.Attaching,
            "attached" => EniAttachmentState.Attached,
            "detaching" => EniAttachmentState.Detaching,
            _ => EniAttachmentState.Detached,
        };
        var attached = state != EniAttachmentState.Detached;
        return new Eni(
            EniId: eni.NetworkInterfaceId,
            Mac: PhysicalAddress.TryParse(eni.MacAddress, out var mac) ? mac
                : throw new CloudException(CloudErrorKind.Invalid, "BadResponse", $"network interface {eni.NetworkInterfaceId} has MAC '{eni.MacAddress}'"),
            PrimaryIp: ParseIp(eni.PrivateIpAddress, eni.NetworkInterfaceId),
            SecondaryIps: [.. (eni.PrivateIpAddresses ?? []).Where(a => a.Primary != true).Select(a => ParseIp(a.PrivateIpAddress, eni.NetworkInterfaceId))],
            SubnetId: eni.SubnetId,
            SubnetCidr: subnetCidr,
            SecurityGroupIds: [.. (eni.Groups ?? []).Select(g => g.GroupId)],
            AttachmentState: state,
            AttachmentId: attached ? attachment!.AttachmentId : null,
            InstanceId: attached ? attachment!.InstanceId : null,
            DeviceIndex: attached ? attachment!.DeviceIndex : null,
            Description: eni.Description ?? "",
            Tags: (eni.TagSet ?? []).ToDictionary(t => t.Key, t => t.Value ?? "", StringComparer.Ordinal));
    }

    private static IPAddress ParseIp(string? text, string eniId) =>
        IPAddress.TryParse(text, out var ip) ? ip
            : throw new CloudException(CloudErrorKind.Invalid, "BadResponse", $"network interface {eniId} has address '{text}'");

    private static IPNetwork ParseCidr(string? text, string subnetId) =>
        IPNetwork.TryParse(text, out var net) ? net
            : throw new CloudException(CloudErrorKind.Invalid, "BadResponse", $"subnet {subnetId} has CIDR '{text}'");

    /// <summary>Releases the EC2 client; the IMDS client is the caller's.</summary>
    public void Dispose() => _ec2.Dispose();
}
