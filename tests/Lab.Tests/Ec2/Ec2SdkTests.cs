using System.Net;
using Amazon.EC2;
using Amazon.EC2.Model;
using Fathom.Lab.Ec2;
using Filter = Amazon.EC2.Model.Filter;
using Tag = Amazon.EC2.Model.Tag;
using NetworkInterface = Amazon.EC2.Model.NetworkInterface;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// Every action of the emulated EC2 API through AWSSDK.EC2, the client the agent uses: shapes,
/// limits and EC2's error codes as the SDK surfaces them (AmazonEC2Exception.ErrorCode).
/// </summary>
public sealed class Ec2SdkTests : IAsyncLifetime
{
    /// <summary>Below EC2's minimum page size (5); a field so the SDK's analyzer lets the test send it.</summary>
    private static readonly int TooFew = 3;

    private Ec2TestLab _lab = null!;
    private AmazonEC2Client Ec2 => _lab.Client;

    public async Task InitializeAsync() => _lab = await Ec2TestLab.StartAsync();

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private async Task<NetworkInterface> CreateEniAsync(string? subnetId = null, int secondaries = 0, string description = "",
        params (string Key, string Value)[] tags)
    {
        var request = new CreateNetworkInterfaceRequest
        {
            SubnetId = subnetId ?? _lab.Subnet1.SubnetId,
            Description = description,
            SecondaryPrivateIpAddressCount = secondaries == 0 ? null : secondaries,
        };
        if (tags.Length > 0)
            request.TagSpecifications = [new TagSpecification { ResourceType = ResourceType.NetworkInterface, Tags = [.. tags.Select(t => new Tag(t.Key, t.Value))] }];
        return (await Ec2.CreateNetworkInterfaceAsync(request)).NetworkInterface;
    }

    private async Task<NetworkInterface> DescribeEniAsync(string id) =>
        (await Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { NetworkInterfaceIds = [id] })).NetworkInterfaces.Single();

    private static async Task<AmazonEC2Exception> Fails(string code, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<AmazonEC2Exception>(call);
        Assert.Equal(code, e.ErrorCode);
        return e;
    }

    [Fact]
    public async Task DescribeInstanceTypes_reports_AWS_network_limits()
    {
        var types = (await Ec2.DescribeInstanceTypesAsync(new DescribeInstanceTypesRequest { InstanceTypes = ["c5.4xlarge", "t3.small"] })).InstanceTypes;
        var c5 = types.Single(t => t.InstanceType == "c5.4xlarge").NetworkInfo;
        Assert.Equal(8, c5.MaximumNetworkInterfaces);
        Assert.Equal(30, c5.Ipv4AddressesPerInterface);
        Assert.Equal(30, c5.Ipv6AddressesPerInterface);
        var t3 = types.Single(t => t.InstanceType == "t3.small").NetworkInfo;
        Assert.Equal((3, 4), (t3.MaximumNetworkInterfaces, t3.Ipv4AddressesPerInterface));

        var all = (await Ec2.DescribeInstanceTypesAsync(new DescribeInstanceTypesRequest())).InstanceTypes;
        Assert.Equal(["c5.4xlarge", "m5.24xlarge", "m5.large", "m5.xlarge", "t3.medium", "t3.small"], all.Select(t => t.InstanceType.Value).Order());
        Assert.Equal(15, all.Single(t => t.InstanceType == "m5.24xlarge").NetworkInfo.MaximumNetworkInterfaces);

        await Fails("InvalidInstanceType", () => Ec2.DescribeInstanceTypesAsync(new DescribeInstanceTypesRequest { InstanceTypes = ["x9.huge"] }));
    }

    [Fact]
    public async Task DescribeSubnets_counts_free_addresses_minus_the_five_AWS_reserves()
    {
        var subnets = (await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest())).Subnets;
        Assert.Equal(4, subnets.Count);
        var s1 = subnets.Single(s => s.SubnetId == _lab.Subnet1.SubnetId);
        Assert.Equal("10.0.1.0/24", s1.CidrBlock);
        Assert.Equal("us-east-1a", s1.AvailabilityZone);
        Assert.Equal("vpc-0123456789abcdef0", s1.VpcId);
        Assert.Equal(256 - 5 - 2, s1.AvailableIpAddressCount); // two instances' primary ENIs
        Assert.Equal(11, subnets.Single(s => s.SubnetId == _lab.Tiny.SubnetId).AvailableIpAddressCount);

        await CreateEniAsync(secondaries: 3);
        var after = (await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { SubnetIds = [_lab.Subnet1.SubnetId] })).Subnets.Single();
        Assert.Equal(256 - 5 - 2 - 4, after.AvailableIpAddressCount);

        var byCidr = (await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { Filters = [new Filter("cidr-block", ["10.0.2.*"])] })).Subnets;
        Assert.Equal(_lab.Subnet2.SubnetId, byCidr.Single().SubnetId);
        await Fails("InvalidSubnetID.NotFound", () => Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { SubnetIds = ["subnet-00000000000000000"] }));
    }

    [Fact]
    public async Task DescribeSecurityGroups_lists_the_default_group()
    {
        var extra = _lab.Cloud.CreateSecurityGroup("pods", "pod traffic");
        var groups = (await Ec2.DescribeSecurityGroupsAsync(new DescribeSecurityGroupsRequest())).SecurityGroups;
        Assert.Equal(2, groups.Count);
        var def = groups.Single(g => g.GroupName == "default");
        Assert.Equal(_lab.Cloud.DefaultSecurityGroupId, def.GroupId);
        Assert.Equal("vpc-0123456789abcdef0", def.VpcId);
        var byId = (await Ec2.DescribeSecurityGroupsAsync(new DescribeSecurityGroupsRequest { GroupIds = [extra.GroupId] })).SecurityGroups.Single();
        Assert.Equal(("pods", "pod traffic"), (byId.GroupName, byId.Description));
        await Fails("InvalidGroup.NotFound", () => Ec2.DescribeSecurityGroupsAsync(new DescribeSecurityGroupsRequest { GroupIds = ["sg-00000000000000000"] }));
    }

    [Fact]
    public async Task DescribeInstances_shows_instances_with_their_primary_ENI()
    {
        var reservations = (await Ec2.DescribeInstancesAsync(new DescribeInstancesRequest())).Reservations;
        var instances = reservations.SelectMany(r => r.Instances).ToList();
        Assert.Equal(2, instances.Count);
        var large = instances.Single(i => i.InstanceId == _lab.Large.InstanceId);
        Assert.Equal("m5.large", large.InstanceType.Value);
        Assert.Equal("running", large.State.Name.Value);
        Assert.Equal(16, large.State.Code);
        Assert.Equal(_lab.Large.PrivateIp.ToString(), large.PrivateIpAddress);
        Assert.Equal("us-east-1a", large.Placement.AvailabilityZone);
        Assert.Equal(_lab.Subnet1.SubnetId, large.SubnetId);
        Assert.Equal("node-large", large.Tags.Single(t => t.Key == "Name").Value);
        var primary = large.NetworkInterfaces.Single();
        Assert.Equal(0, primary.Attachment.DeviceIndex);
        Assert.True(primary.Attachment.DeleteOnTermination);
        Assert.Equal(_lab.Large.MacAddress, primary.MacAddress);
        Assert.StartsWith("ip-10-0-1-", large.PrivateDnsName);

        var byType = (await Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { Filters = [new Filter("instance-type", ["t3.*"])] }))
            .Reservations.SelectMany(r => r.Instances).Single();
        Assert.Equal(_lab.Small.InstanceId, byType.InstanceId);
        var byIp = (await Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { Filters = [new Filter("private-ip-address", [_lab.Small.PrivateIp.ToString()])] }))
            .Reservations.SelectMany(r => r.Instances).Single();
        Assert.Equal(_lab.Small.InstanceId, byIp.InstanceId);

        await Fails("InvalidInstanceID.NotFound", () => Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = ["i-00000000000000000"] }));
        await Fails("InvalidParameterCombination", () => Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [_lab.Large.InstanceId], MaxResults = 5 }));
    }

    [Fact]
    public async Task CreateNetworkInterface_returns_EC2s_shape()
    {
        var eni = await CreateEniAsync(null, 2, "fathom pod pool", ("cluster", "lab"), ("node", "node-large"));
        Assert.Matches("^eni-[0-9a-f]{17}$", eni.NetworkInterfaceId);
        Assert.Matches("^02(:[0-9a-f]{2}){5}$", eni.MacAddress);
        Assert.Equal(NetworkInterfaceStatus.Available, eni.Status);
        Assert.Equal(_lab.Subnet1.SubnetId, eni.SubnetId);
        Assert.Equal("vpc-0123456789abcdef0", eni.VpcId);
        Assert.Equal("us-east-1a", eni.AvailabilityZone);
        Assert.Equal("fathom pod pool", eni.Description);
        Assert.Equal(NetworkInterfaceType.Interface, eni.InterfaceType);
        Assert.False(eni.RequesterManaged);
        Assert.Equal(_lab.Cloud.DefaultSecurityGroupId, eni.Groups.Single().GroupId);
        Assert.Equal("default", eni.Groups.Single().GroupName);
        Assert.Equal(3, eni.PrivateIpAddresses.Count);
        Assert.Equal(eni.PrivateIpAddress, eni.PrivateIpAddresses.Single(p => p.Primary == true).PrivateIpAddress);
        Assert.All(eni.PrivateIpAddresses, p =>
        {
            var last = int.Parse(p.PrivateIpAddress.Split('.')[3], System.Globalization.CultureInfo.InvariantCulture);
            Assert.StartsWith("10.0.1.", p.PrivateIpAddress);
            Assert.InRange(last, 4, 254); // .0–.3 and .255 are AWS's
        });
        Assert.Null(eni.Attachment);
        Assert.Equal(new Dictionary<string, string> { ["cluster"] = "lab", ["node"] = "node-large" },
            eni.TagSet.ToDictionary(t => t.Key, t => t.Value));

        var described = await DescribeEniAsync(eni.NetworkInterfaceId);
        Assert.Equal(eni.PrivateIpAddresses.Select(p => p.PrivateIpAddress), described.PrivateIpAddresses.Select(p => p.PrivateIpAddress));
    }

    [Fact]
    public async Task CreateNetworkInterface_with_chosen_addresses_and_its_errors()
    {
        var group = _lab.Cloud.CreateSecurityGroup("pods", "pods");
        var eni = (await Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest
        {
            SubnetId = _lab.Subnet2.SubnetId,
            Groups = [group.GroupId],
            PrivateIpAddress = "10.0.2.10",
            PrivateIpAddresses = [new PrivateIpAddressSpecification { PrivateIpAddress = "10.0.2.11", Primary = false }],
        })).NetworkInterface;
        Assert.Equal("10.0.2.10", eni.PrivateIpAddress);
        Assert.Equal(["10.0.2.10", "10.0.2.11"], eni.PrivateIpAddresses.Select(p => p.PrivateIpAddress));
        Assert.Equal(group.GroupId, eni.Groups.Single().GroupId);

        var subnet2 = _lab.Subnet2.SubnetId;
        await Fails("InvalidIPAddress.InUse", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet2, PrivateIpAddress = "10.0.2.11" }));
        await Fails("InvalidParameterValue", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet2, PrivateIpAddress = "10.0.1.50" }));
        await Fails("InvalidParameterValue", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet2, PrivateIpAddress = "10.0.2.1" }));
        await Fails("InvalidParameterCombination", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest
        {
            SubnetId = subnet2, SecondaryPrivateIpAddressCount = 1,
            PrivateIpAddresses = [new PrivateIpAddressSpecification { PrivateIpAddress = "10.0.2.20", Primary = false }],
        }));
        await Fails("PrivateIpAddressLimitExceeded", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet2, SecondaryPrivateIpAddressCount = 50 }));
        await Fails("InvalidSubnetID.NotFound", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = "subnet-00000000000000000" }));
        await Fails("InvalidGroup.NotFound", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { SubnetId = subnet2, Groups = ["sg-00000000000000000"] }));
        await Fails("MissingParameter", () => Ec2.CreateNetworkInterfaceAsync(new CreateNetworkInterfaceRequest { Description = "no subnet" }));
    }

    [Fact]
    public async Task A_full_subnet_answers_InsufficientFreeAddressesInSubnet()
    {
        // A /28 has 16 addresses; AWS keeps 5: 11 left.
        var big = await CreateEniAsync(_lab.Tiny.SubnetId, secondaries: 9);
        Assert.Equal(10, big.PrivateIpAddresses.Count);
        await CreateEniAsync(_lab.Tiny.SubnetId);
        var e = await Fails("InsufficientFreeAddressesInSubnet", () => CreateEniAsync(_lab.Tiny.SubnetId));
        Assert.Equal(HttpStatusCode.BadRequest, e.StatusCode);
        await Fails("InsufficientFreeAddressesInSubnet", () => Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = big.NetworkInterfaceId, SecondaryPrivateIpAddressCount = 1,
        }));
        Assert.Equal(0, (await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest { SubnetIds = [_lab.Tiny.SubnetId] })).Subnets.Single().AvailableIpAddressCount);
    }

    [Fact]
    public async Task Attach_and_detach_move_an_ENI_between_available_and_in_use()
    {
        var eni = await CreateEniAsync();
        var attachmentId = (await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1,
        })).AttachmentId;
        Assert.Matches("^eni-attach-[0-9a-f]{17}$", attachmentId);

        var attached = await DescribeEniAsync(eni.NetworkInterfaceId);
        Assert.Equal(NetworkInterfaceStatus.InUse, attached.Status);
        Assert.Equal(attachmentId, attached.Attachment.AttachmentId);
        Assert.Equal(_lab.Large.InstanceId, attached.Attachment.InstanceId);
        Assert.Equal(1, attached.Attachment.DeviceIndex);
        Assert.Equal(AttachmentStatus.Attached, attached.Attachment.Status);
        Assert.False(attached.Attachment.DeleteOnTermination);
        Assert.Equal(eni.MacAddress, attached.MacAddress);

        var instance = (await Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [_lab.Large.InstanceId] }))
            .Reservations.Single().Instances.Single();
        Assert.Equal([0, 1], instance.NetworkInterfaces.Select(n => n.Attachment.DeviceIndex ?? -1).Order());

        await Fails("InvalidNetworkInterface.InUse", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = _lab.Small.InstanceId, DeviceIndex = 1,
        }));

        await Ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = attachmentId, Force = true });
        var detached = await DescribeEniAsync(eni.NetworkInterfaceId);
        Assert.Equal(NetworkInterfaceStatus.Available, detached.Status);
        Assert.Null(detached.Attachment);
        // Detached from one instance and attached to another, it keeps MAC and addresses (DESIGN.md §1).
        await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = _lab.Small.InstanceId, DeviceIndex = 2 });
        var moved = await DescribeEniAsync(eni.NetworkInterfaceId);
        Assert.Equal((eni.MacAddress, eni.PrivateIpAddress, _lab.Small.InstanceId), (moved.MacAddress, moved.PrivateIpAddress, moved.Attachment.InstanceId));

        await Fails("InvalidAttachmentID.NotFound", () => Ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = attachmentId }));
        var primaryAttachment = (await DescribeEniAsync(_lab.Large.PrimaryNetworkInterfaceId)).Attachment.AttachmentId;
        await Fails("OperationNotPermitted", () => Ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = primaryAttachment }));
    }

    [Fact]
    public async Task Attach_enforces_the_instance_types_limits()
    {
        // t3.small: 3 ENIs (device 0 is the primary), 4 IPv4 addresses per ENI.
        var a = await CreateEniAsync();
        var b = await CreateEniAsync();
        var c = await CreateEniAsync();
        await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = a.NetworkInterfaceId, InstanceId = _lab.Small.InstanceId, DeviceIndex = 1 });
        await Fails("InvalidParameterValue", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = b.NetworkInterfaceId, InstanceId = _lab.Small.InstanceId, DeviceIndex = 1,
        }));
        await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = b.NetworkInterfaceId, InstanceId = _lab.Small.InstanceId, DeviceIndex = 2 });
        await Fails("AttachmentLimitExceeded", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = c.NetworkInterfaceId, InstanceId = _lab.Small.InstanceId, DeviceIndex = 3,
        }));

        var crowded = await CreateEniAsync(secondaries: 4); // 5 addresses > 4
        var fresh = await _lab.Cloud.LaunchInstanceAsync("t3.small", _lab.Subnet1.SubnetId, "node-3");
        await Fails("PrivateIpAddressLimitExceeded", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = crowded.NetworkInterfaceId, InstanceId = fresh.InstanceId, DeviceIndex = 1,
        }));
        // The same ENI fits an m5.large (10 per ENI).
        await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = crowded.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1 });
    }

    [Fact]
    public async Task Attach_errors_for_unknown_or_malformed_ids_and_other_zones()
    {
        var eni = await CreateEniAsync();
        await Fails("InvalidInstanceID.NotFound", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = "i-0000000000000000f", DeviceIndex = 1,
        }));
        await Fails("InvalidNetworkInterfaceID.NotFound", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = "eni-0000000000000000f", InstanceId = _lab.Large.InstanceId, DeviceIndex = 1,
        }));
        await Fails("InvalidNetworkInterfaceID.Malformed", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = "eni-xyz", InstanceId = _lab.Large.InstanceId, DeviceIndex = 1,
        }));
        var elsewhere = await CreateEniAsync(_lab.OtherAz.SubnetId);
        await Fails("InvalidParameterCombination", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = elsewhere.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1,
        }));
    }

    [Fact]
    public async Task An_attached_ENI_cannot_be_deleted()
    {
        var eni = await CreateEniAsync();
        var attachment = (await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 2,
        })).AttachmentId;
        await Fails("InvalidNetworkInterface.InUse", () => Ec2.DeleteNetworkInterfaceAsync(new DeleteNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId }));
        await Ec2.DetachNetworkInterfaceAsync(new DetachNetworkInterfaceRequest { AttachmentId = attachment });
        await Ec2.DeleteNetworkInterfaceAsync(new DeleteNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId });
        await Fails("InvalidNetworkInterfaceID.NotFound", () => DescribeEniAsync(eni.NetworkInterfaceId));
        await Fails("InvalidNetworkInterfaceID.NotFound", () => Ec2.DeleteNetworkInterfaceAsync(new DeleteNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId }));
        await Fails("InvalidNetworkInterfaceID.Malformed", () => DescribeEniAsync("eni-12"));
    }

    [Fact]
    public async Task Assign_and_unassign_secondary_addresses_up_to_the_per_ENI_limit()
    {
        var eni = await CreateEniAsync();
        await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1 });

        var byCount = await Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, SecondaryPrivateIpAddressCount = 7,
        });
        Assert.Equal(7, byCount.AssignedPrivateIpAddresses.Count);
        Assert.Equal(eni.NetworkInterfaceId, byCount.NetworkInterfaceId);
        var byList = await Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, PrivateIpAddresses = ["10.0.1.200", "10.0.1.201"],
        });
        Assert.Equal(["10.0.1.200", "10.0.1.201"], byList.AssignedPrivateIpAddresses.Select(a => a.PrivateIpAddress));
        // m5.large: 10 addresses per ENI, and this one now has 1 + 9.
        await Fails("PrivateIpAddressLimitExceeded", () => Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, SecondaryPrivateIpAddressCount = 1,
        }));
        Assert.Equal(10, (await DescribeEniAsync(eni.NetworkInterfaceId)).PrivateIpAddresses.Count);

        await Ec2.UnassignPrivateIpAddressesAsync(new UnassignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, PrivateIpAddresses = ["10.0.1.200"],
        });
        var now = await DescribeEniAsync(eni.NetworkInterfaceId);
        Assert.Equal(9, now.PrivateIpAddresses.Count);
        Assert.DoesNotContain(now.PrivateIpAddresses, p => p.PrivateIpAddress == "10.0.1.200");

        await Fails("InvalidParameterValue", () => Ec2.UnassignPrivateIpAddressesAsync(new UnassignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, PrivateIpAddresses = [eni.PrivateIpAddress],
        }));
        await Fails("InvalidParameterValue", () => Ec2.UnassignPrivateIpAddressesAsync(new UnassignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, PrivateIpAddresses = ["10.0.1.200"],
        }));
        await Fails("InvalidIPAddress.InUse", () => Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, PrivateIpAddresses = [_lab.Small.PrivateIp.ToString()],
        }));
        await Fails("MissingParameter", () => Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest { NetworkInterfaceId = eni.NetworkInterfaceId }));
        await Fails("InvalidParameterCombination", () => Ec2.AssignPrivateIpAddressesAsync(new AssignPrivateIpAddressesRequest
        {
            NetworkInterfaceId = eni.NetworkInterfaceId, PrivateIpAddresses = ["10.0.1.202"], SecondaryPrivateIpAddressCount = 1,
        }));
    }

    [Fact]
    public async Task ModifyNetworkInterfaceAttribute_sets_DeleteOnTermination_and_groups_and_termination_honours_it()
    {
        var group = _lab.Cloud.CreateSecurityGroup("pods", "pods");
        var keep = await CreateEniAsync();
        var drop = await CreateEniAsync();
        var keepAttachment = (await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = keep.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1 })).AttachmentId;
        var dropAttachment = (await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = drop.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 2 })).AttachmentId;

        await Ec2.ModifyNetworkInterfaceAttributeAsync(new ModifyNetworkInterfaceAttributeRequest
        {
            NetworkInterfaceId = drop.NetworkInterfaceId,
            Attachment = new NetworkInterfaceAttachmentChanges { AttachmentId = dropAttachment, DeleteOnTermination = true },
        });
        await Ec2.ModifyNetworkInterfaceAttributeAsync(new ModifyNetworkInterfaceAttributeRequest
        {
            NetworkInterfaceId = keep.NetworkInterfaceId, Groups = [group.GroupId, _lab.Cloud.DefaultSecurityGroupId],
        });
        Assert.True((await DescribeEniAsync(drop.NetworkInterfaceId)).Attachment.DeleteOnTermination);
        Assert.Equal([group.GroupId, _lab.Cloud.DefaultSecurityGroupId], (await DescribeEniAsync(keep.NetworkInterfaceId)).Groups.Select(g => g.GroupId));

        await Fails("InvalidAttachmentID.NotFound", () => Ec2.ModifyNetworkInterfaceAttributeAsync(new ModifyNetworkInterfaceAttributeRequest
        {
            NetworkInterfaceId = keep.NetworkInterfaceId,
            Attachment = new NetworkInterfaceAttachmentChanges { AttachmentId = dropAttachment, DeleteOnTermination = true },
        }));
        await Fails("InvalidGroup.NotFound", () => Ec2.ModifyNetworkInterfaceAttributeAsync(new ModifyNetworkInterfaceAttributeRequest
        {
            NetworkInterfaceId = keep.NetworkInterfaceId, Groups = ["sg-00000000000000000"],
        }));

        await _lab.Cloud.TerminateInstanceAsync(_lab.Large.InstanceId);
        var left = (await Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest())).NetworkInterfaces.Select(e => e.NetworkInterfaceId).ToList();
        Assert.Contains(keep.NetworkInterfaceId, left);
        Assert.DoesNotContain(drop.NetworkInterfaceId, left);
        Assert.DoesNotContain(_lab.Large.PrimaryNetworkInterfaceId, left);
        Assert.Equal(NetworkInterfaceStatus.Available, (await DescribeEniAsync(keep.NetworkInterfaceId)).Status);
        Assert.NotEqual(keepAttachment, dropAttachment);
        await Fails("InvalidInstanceID.NotFound", () => Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [_lab.Large.InstanceId] }));
    }

    [Fact]
    public async Task DescribeNetworkInterfaces_filters_like_EC2()
    {
        var attached = await CreateEniAsync(tags: [("fathom.io/node", "node-large"), ("fathom.io/cluster", "lab")]);
        var free = await CreateEniAsync(_lab.Subnet2.SubnetId, tags: ("fathom.io/cluster", "lab"));
        var untagged = await CreateEniAsync(_lab.Subnet2.SubnetId);
        await Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = attached.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1 });

        async Task<string[]> Ids(params Filter[] filters) =>
            [.. ((await Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { Filters = [.. filters] })).NetworkInterfaces ?? [])
                .Select(e => e.NetworkInterfaceId).Order(StringComparer.Ordinal)];
        string[] Sorted(params string[] ids) => [.. ids.Order(StringComparer.Ordinal)];

        Assert.Equal(Sorted(attached.NetworkInterfaceId, _lab.Large.PrimaryNetworkInterfaceId), await Ids(new Filter("attachment.instance-id", [_lab.Large.InstanceId])));
        Assert.Equal(Sorted(free.NetworkInterfaceId, untagged.NetworkInterfaceId), await Ids(new Filter("subnet-id", [_lab.Subnet2.SubnetId])));
        Assert.Equal(Sorted(free.NetworkInterfaceId, untagged.NetworkInterfaceId), await Ids(new Filter("status", ["available"])));
        Assert.Equal(Sorted(attached.NetworkInterfaceId), await Ids(new Filter("tag:fathom.io/node", ["node-large"])));
        Assert.Equal(Sorted(attached.NetworkInterfaceId, free.NetworkInterfaceId), await Ids(new Filter("tag-key", ["fathom.io/cluster"])));
        // EC2 wildcards: * and ?.
        Assert.Equal(Sorted(attached.NetworkInterfaceId, free.NetworkInterfaceId), await Ids(new Filter("tag:fathom.io/cluster", ["l?b"])));
        Assert.Equal(Sorted(attached.NetworkInterfaceId, free.NetworkInterfaceId), await Ids(new Filter("tag-key", ["fathom.io/clu*"])));
        Assert.Equal(Sorted(free.NetworkInterfaceId), await Ids(new Filter("network-interface-id", [free.NetworkInterfaceId])));
        // Filters AND; values of one filter OR.
        Assert.Equal(Sorted(free.NetworkInterfaceId), await Ids(new Filter("tag-key", ["fathom.io/cluster"]), new Filter("status", ["available", "attaching"])));
        Assert.Empty(await Ids(new Filter("tag:fathom.io/node", ["node-small"])));

        await Fails("InvalidParameterValue", () => Ids(new Filter("colour", ["blue"])));
    }

    [Fact]
    public async Task DescribeNetworkInterfaces_pages_with_MaxResults_and_NextToken()
    {
        for (var i = 0; i < 11; i++) await CreateEniAsync(_lab.Subnet2.SubnetId);
        var total = _lab.Cloud.NetworkInterfaces.Count; // 11 + two primaries
        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { MaxResults = 5, NextToken = token });
            Assert.InRange(page.NetworkInterfaces.Count, 1, 5);
            seen.AddRange(page.NetworkInterfaces.Select(e => e.NetworkInterfaceId));
            token = page.NextToken;
            pages++;
        } while (token is not null);
        Assert.Equal(3, pages);
        Assert.Equal(total, seen.Count);
        Assert.Equal(total, seen.Distinct().Count());

        // The SDK's own paginator follows the tokens too.
        var viaPaginator = new List<string>();
        await foreach (var eni in Ec2.Paginators.DescribeNetworkInterfaces(new DescribeNetworkInterfacesRequest { MaxResults = 5 }).NetworkInterfaces)
            viaPaginator.Add(eni.NetworkInterfaceId);
        Assert.Equal(seen, viaPaginator);

        await Fails("InvalidParameterValue", () => Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { MaxResults = TooFew }));
        await Fails("InvalidPaginationToken", () => Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest { MaxResults = 5, NextToken = "not-a-token" }));
    }

    [Fact]
    public async Task CreateTags_and_DeleteTags_on_ENIs_and_instances()
    {
        var eni = await CreateEniAsync();
        await Ec2.CreateTagsAsync(new CreateTagsRequest
        {
            Resources = [eni.NetworkInterfaceId, _lab.Small.InstanceId],
            Tags = [new Tag("fathom.io/owner", "agent"), new Tag("team", "net")],
        });
        Assert.Equal("agent", (await DescribeEniAsync(eni.NetworkInterfaceId)).TagSet.Single(t => t.Key == "fathom.io/owner").Value);
        var small = (await Ec2.DescribeInstancesAsync(new DescribeInstancesRequest { InstanceIds = [_lab.Small.InstanceId] })).Reservations.Single().Instances.Single();
        Assert.Equal(["Name", "fathom.io/owner", "team"], small.Tags.Select(t => t.Key).Order(StringComparer.Ordinal));

        // A value given must match; a key alone deletes whatever the value.
        await Ec2.DeleteTagsAsync(new DeleteTagsRequest { Resources = [eni.NetworkInterfaceId], Tags = [new Tag("team", "other")] });
        Assert.Contains((await DescribeEniAsync(eni.NetworkInterfaceId)).TagSet, t => t.Key == "team");
        await Ec2.DeleteTagsAsync(new DeleteTagsRequest { Resources = [eni.NetworkInterfaceId], Tags = [new Tag { Key = "team" }] });
        Assert.Equal(["fathom.io/owner"], (await DescribeEniAsync(eni.NetworkInterfaceId)).TagSet.Select(t => t.Key));
        await Ec2.DeleteTagsAsync(new DeleteTagsRequest { Resources = [eni.NetworkInterfaceId] });
        Assert.Empty((await DescribeEniAsync(eni.NetworkInterfaceId)).TagSet ?? []);

        await Fails("InvalidNetworkInterfaceID.NotFound", () => Ec2.CreateTagsAsync(new CreateTagsRequest { Resources = ["eni-0000000000000000f"], Tags = [new Tag("a", "b")] }));
        await Fails("InvalidParameterValue", () => Ec2.CreateTagsAsync(new CreateTagsRequest { Resources = [eni.NetworkInterfaceId], Tags = [new Tag("aws:reserved", "x")] }));
    }

    [Fact]
    public async Task Throttling_is_RequestLimitExceeded_per_action()
    {
        _lab.Faults.SetThrottleRate(1.0, "DescribeNetworkInterfaces");
        var e = await Fails("RequestLimitExceeded", () => Ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest()));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, e.StatusCode);
        await Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest()); // other actions unaffected

        _lab.Faults.SetThrottleRate(0, "DescribeNetworkInterfaces");
        _lab.Faults.SetErrorRate(1.0);
        var error = await Assert.ThrowsAsync<AmazonEC2Exception>(() => Ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest()));
        Assert.Contains(error.ErrorCode, new[] { "InternalError", "Unavailable" });
        Assert.True(error.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.ServiceUnavailable);

        // A rate between 0 and 1 fails about that fraction of calls.
        _lab.Faults.Clear();
        _lab.Faults.SetThrottleRate(0.5);
        var throttled = 0;
        for (var i = 0; i < 40; i++)
        {
            try { await Ec2.DescribeSecurityGroupsAsync(new DescribeSecurityGroupsRequest()); }
            catch (AmazonEC2Exception x) when (x.ErrorCode == "RequestLimitExceeded") { throttled++; }
        }
        Assert.InRange(throttled, 8, 32);
    }

    [Fact]
    public async Task Attach_latency_holds_the_attachment_in_attaching()
    {
        var eni = await CreateEniAsync();
        // Long enough that a slow first request (the SDK's JIT on a loaded 2-core machine, the lab
        // tests running beside it) still finds the attachment, and the second attach is refused,
        // before the latency is over.
        _lab.Faults.AttachLatency = TimeSpan.FromMilliseconds(5000);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var attach = Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = eni.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1 });
        NetworkInterface during;
        do
        {
            await Task.Delay(50);
            during = await DescribeEniAsync(eni.NetworkInterfaceId);
        } while (during.Attachment is null && started.ElapsedMilliseconds < 4500);
        Assert.Equal(AttachmentStatus.Attaching, during.Attachment?.Status);
        Assert.Equal(NetworkInterfaceStatus.InUse, during.Status);

        // While attaching, the device index is taken and other calls are not held up.
        var other = await CreateEniAsync();
        await Fails("InvalidParameterValue", () => Ec2.AttachNetworkInterfaceAsync(new AttachNetworkInterfaceRequest { NetworkInterfaceId = other.NetworkInterfaceId, InstanceId = _lab.Large.InstanceId, DeviceIndex = 1 }));

        var attachmentId = (await attach).AttachmentId;
        Assert.True(started.ElapsedMilliseconds >= 4950, $"attach returned after {started.ElapsedMilliseconds} ms");
        var after = await DescribeEniAsync(eni.NetworkInterfaceId);
        Assert.Equal((attachmentId, AttachmentStatus.Attached), (after.Attachment.AttachmentId, after.Attachment.Status));
    }

    [Fact]
    public async Task A_wrong_secret_is_AuthFailure()
    {
        using var intruder = _lab.NewClient("not-the-secret");
        var e = await Fails("AuthFailure", () => intruder.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest()));
        Assert.Equal(HttpStatusCode.Unauthorized, e.StatusCode);
    }

    [Fact]
    public async Task Any_region_in_the_credential_scope_is_accepted()
    {
        using var client = _lab.NewClient(_lab.Credentials.SecretAccessKey, region: "eu-west-1");
        Assert.NotEmpty((await client.DescribeSubnetsAsync(new DescribeSubnetsRequest())).Subnets);
    }
}
