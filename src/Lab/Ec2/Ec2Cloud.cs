using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;
using Fathom.Netlink;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// The emulated EC2 control plane of one VPC: subnets, security groups, instances and ENIs, with
/// AWS's limits and error codes. Thread-safe. Every mutation is validated first, then realized
/// through the <see cref="IVpcFabric"/>, then applied — so a fabric failure leaves the state as
/// it was and the action fails with InternalError (IVpcFabric's contract).
/// </summary>
/// <remarks>
/// Locking: writers are serialized by an async mutex that they hold across their fabric call,
/// so the kernel sees changes in the order the state does; the records themselves change under
/// a plain lock that readers (Describe*, IMDS) take briefly. The one writer that lets go of the
/// mutex mid-way is AttachNetworkInterface with an attach latency: it reserves the device index
/// ("attaching"), waits, then completes — so slow attaches overlap as they do in EC2.
/// A fabric may read the cloud (TryGet*, GetInstanceEnis, …) from its callbacks, but must not
/// call a mutating method there: that would wait for the very writer that is calling it.
/// </remarks>
public sealed class Ec2Cloud
{
    /// <summary>AWS reserves the network address, +1 (router), +2 (DNS), +3 (future) and the last address of every subnet.</summary>
    private const int ReservedAddressesPerSubnet = 5;

    /// <summary>EC2 allows at most 50 user tags per resource.</summary>
    private const int MaxTagsPerResource = 50;

    private readonly IVpcFabric _fabric;
    private readonly Ec2CloudOptions _options;
    private readonly Random _random;
    private readonly Ec2CloudState _state;
    private readonly SemaphoreSlim _mutex = new(1, 1);
    private readonly Lock _gate = new();
    private readonly Dictionary<string, HashSet<uint>> _usedAddresses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, InstanceTypeLimits> _types;
    private readonly IPNetwork _vpcCidr;

    /// <summary>Creates a VPC with its default security group and no subnets.</summary>
    /// <param name="fabric">Realizes attachments and addressing (use <see cref="NullVpcFabric"/> for API-only use).</param>
    /// <param name="options">The VPC's settings.</param>
    /// <param name="time">Clock for launch and attach times and the attach latency (default: system).</param>
    /// <param name="random">Source of ids, MACs and addresses (default: a new Random); inject a seeded one for determinism.</param>
    public Ec2Cloud(IVpcFabric fabric, Ec2CloudOptions options, TimeProvider? time = null, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(fabric);
        ArgumentNullException.ThrowIfNull(options);
        if (options.VpcCidr.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException("the lab's VPC is IPv4", nameof(options));
        _fabric = fabric;
        _options = options;
        Time = time ?? TimeProvider.System;
        _random = random ?? new Random();
        _types = options.InstanceTypes.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _vpcCidr = options.VpcCidr;
        _state = new Ec2CloudState { VpcCidr = options.VpcCidr.ToString() };
        _state.VpcId = options.VpcId ?? NewId("vpc-", _state);
        var sg = new SecurityGroupRecord { Id = NewId("sg-", _state), Name = "default", Description = "default VPC security group" };
        _state.SecurityGroups[sg.Id] = sg;
        _state.DefaultSecurityGroupId = sg.Id;
        Persist();
    }

    // ---------------------------------------------------------------- reading

    /// <summary>The clock the cloud stamps times with.</summary>
    public TimeProvider Time { get; }

    /// <summary>The VPC's id.</summary>
    public string VpcId => _state.VpcId;

    /// <summary>The VPC's CIDR.</summary>
    public IPNetwork VpcCidr => _vpcCidr;

    /// <summary>The region the lab answers as.</summary>
    public string Region => _options.Region;

    /// <summary>The owner account of every resource.</summary>
    public string AccountId => _options.AccountId;

    /// <summary>The AMI reported for instances.</summary>
    public string ImageId => _options.ImageId;

    /// <summary>The VPC's default security group (given to ENIs created without groups).</summary>
    public string DefaultSecurityGroupId => _state.DefaultSecurityGroupId;

    /// <summary>The instance types this cloud offers.</summary>
    public IReadOnlyList<InstanceTypeLimits> InstanceTypes => _options.InstanceTypes;

    /// <summary>Looks up an instance type's limits.</summary>
    public bool TryGetInstanceType(string name, out InstanceTypeLimits limits) => _types.TryGetValue(name, out limits!);

    /// <summary>All subnets, by id.</summary>
    public IReadOnlyList<Subnet> Subnets
    {
        get { lock (_gate) return [.. _state.Subnets.Values.OrderBy(s => s.Id, StringComparer.Ordinal).Select(ToSubnet)]; }
    }

    /// <summary>All security groups, by id.</summary>
    public IReadOnlyList<SecurityGroup> SecurityGroups
    {
        get { lock (_gate) return [.. _state.SecurityGroups.Values.OrderBy(g => g.Id, StringComparer.Ordinal).Select(ToGroup)]; }
    }

    /// <summary>All running instances, by id.</summary>
    public IReadOnlyList<Instance> Instances
    {
        get { lock (_gate) return [.. _state.Instances.Values.OrderBy(i => i.Id, StringComparer.Ordinal).Select(ToInstance)]; }
    }

    /// <summary>All ENIs, by id (the order DescribeNetworkInterfaces pages through).</summary>
    public IReadOnlyList<NetworkInterface> NetworkInterfaces
    {
        get { lock (_gate) return [.. _state.Enis.Values.OrderBy(e => e.Id, StringComparer.Ordinal).Select(ToEni)]; }
    }

    /// <summary>Looks up a subnet.</summary>
    public bool TryGetSubnet(string id, out Subnet subnet)
    {
        lock (_gate)
        {
            subnet = _state.Subnets.TryGetValue(id, out var r) ? ToSubnet(r) : null!;
            return r is not null;
        }
    }

    /// <summary>Looks up a running instance.</summary>
    public bool TryGetInstance(string id, out Instance instance)
    {
        lock (_gate)
        {
            instance = _state.Instances.TryGetValue(id, out var r) ? ToInstance(r) : null!;
            return r is not null;
        }
    }

    /// <summary>Looks up an ENI.</summary>
    public bool TryGetEni(string id, out NetworkInterface eni)
    {
        lock (_gate)
        {
            eni = _state.Enis.TryGetValue(id, out var r) ? ToEni(r) : null!;
            return r is not null;
        }
    }

    /// <summary>
    /// The instance that owns this private IP through one of its attached ENIs (primary or
    /// secondary address) — how IMDS tells which instance is calling. Null when none does.
    /// </summary>
    public Instance? FindInstanceByPrivateIp(IPAddress ip)
    {
        var text = ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4().ToString() : ip.ToString();
        lock (_gate)
        {
            foreach (var eni in _state.Enis.Values)
                if (eni.Attachment is { } a && EniAddresses(eni).Contains(text) && _state.Instances.TryGetValue(a.InstanceId, out var inst))
                    return ToInstance(inst);
            return null;
        }
    }

    /// <summary>The ENIs attached (or attaching) to an instance, by device index.</summary>
    public IReadOnlyList<NetworkInterface> GetInstanceEnis(string instanceId)
    {
        lock (_gate)
            return [.. _state.Enis.Values.Where(e => e.Attachment?.InstanceId == instanceId)
                .OrderBy(e => e.Attachment!.DeviceIndex).Select(ToEni)];
    }

    // ---------------------------------------------------------------- lab-side mutations

    /// <summary>Adds a subnet (not an EC2 action the agent uses; the lab builds its VPC with it).</summary>
    /// <exception cref="Ec2Exception">InvalidSubnet.Range outside the VPC or not /16–/28; InvalidSubnet.Conflict on overlap.</exception>
    public Subnet CreateSubnet(string cidr, string availabilityZone)
    {
        // IPNetwork masks host bits silently; EC2 refuses "10.0.1.5/24", so compare with what was written.
        if (!IPNetwork.TryParse(cidr, out var net) || net.BaseAddress.AddressFamily != AddressFamily.InterNetwork
            || !cidr.StartsWith(net.BaseAddress + "/", StringComparison.Ordinal))
            throw new Ec2Exception(InvalidParameterValue, $"Value ({cidr}) for parameter cidrBlock is invalid. This is not a valid CIDR block.");
        // EC2 subnets are /16 to /28 (VPC user guide, "Subnet sizing").
        if (net.PrefixLength is < 16 or > 28 || !_vpcCidr.Contains(net.BaseAddress) || net.PrefixLength < _vpcCidr.PrefixLength)
            throw new Ec2Exception(InvalidSubnetRange, $"The CIDR '{cidr}' is invalid.");
        if (string.IsNullOrEmpty(availabilityZone))
            throw new Ec2Exception(MissingParameter, "The request must contain the parameter availabilityZone");
        return Mutate(() =>
        {
            if (_state.Subnets.Values.Any(s => Overlaps(IPNetwork.Parse(s.Cidr), net)))
                throw new Ec2Exception(InvalidSubnetConflict, $"The CIDR '{cidr}' conflicts with another subnet");
            var record = new SubnetRecord { Id = NewId("subnet-", _state), Cidr = net.ToString(), AvailabilityZone = availabilityZone };
            lock (_gate)
            {
                _state.Subnets[record.Id] = record;
                _usedAddresses[record.Id] = [];
            }
            return ToSubnet(record);
        });
    }

    /// <summary>Adds a security group to the VPC.</summary>
    public SecurityGroup CreateSecurityGroup(string name, string description)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return Mutate(() =>
        {
            if (_state.SecurityGroups.Values.Any(g => g.Name == name))
                throw new Ec2Exception(InvalidGroupDuplicate, $"The security group '{name}' already exists for VPC '{VpcId}'");
            var record = new SecurityGroupRecord { Id = NewId("sg-", _state), Name = name, Description = description };
            lock (_gate) _state.SecurityGroups[record.Id] = record;
            return ToGroup(record);
        });
    }

    /// <summary>
    /// Launches an instance: its primary ENI (device index 0, DeleteOnTermination) gets an address
    /// in the subnet and is attached through the fabric. The instance is tagged Name=<paramref name="nodeName"/>.
    /// </summary>
    public Instance LaunchInstance(string instanceType, string subnetId, string nodeName) =>
        LaunchInstanceAsync(instanceType, subnetId, nodeName).GetAwaiter().GetResult();

    /// <inheritdoc cref="LaunchInstance"/>
    public Task<Instance> LaunchInstanceAsync(string instanceType, string subnetId, string nodeName, CancellationToken cancellationToken = default) =>
        MutateAsync(async () =>
        {
            if (!_types.ContainsKey(instanceType))
                throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{instanceType}' for InstanceType.");
            var subnet = RequireSubnet(subnetId);
            var now = Time.GetUtcNow();
            var instance = new InstanceRecord
            {
                Id = NewId("i-", _state),
                InstanceType = instanceType,
                NodeName = nodeName,
                SubnetId = subnet.Id,
                LaunchTime = now,
                Tags = new(StringComparer.Ordinal) { ["Name"] = nodeName },
            };
            var eni = NewEniRecord(subnet, "Primary network interface", [_state.DefaultSecurityGroupId]);
            eni.PrivateIp = AllocateAddresses(subnet, 1, [])[0];
            eni.Attachment = new AttachmentRecord
            {
                Id = NewId("eni-attach-", _state),
                InstanceId = instance.Id,
                DeviceIndex = 0,
                Status = "attached",
                DeleteOnTermination = true,
                AttachTime = now,
            };
            instance.PrimaryEniId = eni.Id;
            await Realize(() => _fabric.EniChangedAsync(eni.Id, ToSnapshot(eni), cancellationToken));
            try
            {
                await Realize(() => _fabric.AttachAsync(ToAttachment(eni), cancellationToken));
            }
            catch (Ec2Exception)
            {
                await UndoEniChanged(eni.Id);
                throw;
            }
            lock (_gate)
            {
                AddEni(eni);
                _state.Instances[instance.Id] = instance;
            }
            return ToInstance(instance);
        }, cancellationToken);

    /// <summary>
    /// Terminates an instance: every attached ENI is detached through the fabric, those with
    /// DeleteOnTermination are deleted (the primary always is), the others become available.
    /// </summary>
    public void TerminateInstance(string instanceId) => TerminateInstanceAsync(instanceId).GetAwaiter().GetResult();

    /// <inheritdoc cref="TerminateInstance"/>
    public Task TerminateInstanceAsync(string instanceId, CancellationToken cancellationToken = default) =>
        MutateAsync(async () =>
        {
            var instance = RequireInstance(instanceId);
            List<EniRecord> enis;
            lock (_gate)
                enis = [.. _state.Enis.Values.Where(e => e.Attachment?.InstanceId == instance.Id).OrderByDescending(e => e.Attachment!.DeviceIndex)];
            // Termination cannot be refused half-way (EC2 always completes it), so a fabric error
            // on one ENI does not stop the others; the first one is reported after the state is consistent.
            Ec2Exception? firstFailure = null;
            foreach (var eni in enis)
            {
                var attachment = eni.Attachment!;
                try
                {
                    if (attachment.Status == "attached")
                        await Realize(() => _fabric.DetachAsync(ToAttachment(eni), cancellationToken));
                    if (attachment.DeleteOnTermination)
                        await Realize(() => _fabric.EniChangedAsync(eni.Id, null, cancellationToken));
                }
                catch (Ec2Exception e)
                {
                    firstFailure ??= e;
                }
                lock (_gate)
                {
                    if (attachment.DeleteOnTermination) RemoveEni(eni);
                    else eni.Attachment = null;
                }
            }
            lock (_gate) _state.Instances.Remove(instance.Id);
            Persist();
            if (firstFailure is not null) throw firstFailure;
            return true;
        }, cancellationToken);

    // ---------------------------------------------------------------- EC2 actions

    /// <summary>CreateNetworkInterface.</summary>
    public Task<NetworkInterface> CreateNetworkInterfaceAsync(CreateNetworkInterfaceSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return MutateAsync(async () =>
        {
            var subnet = RequireSubnet(spec.SubnetId);
            var groups = spec.SecurityGroupIds.Count == 0 ? [_state.DefaultSecurityGroupId] : RequireGroups(spec.SecurityGroupIds);
            if (spec.SecondaryPrivateIpCount < 0)
                throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{spec.SecondaryPrivateIpCount}' for secondaryPrivateIpAddressCount.");
            if (spec.SecondaryPrivateIpCount > 0 && spec.SecondaryPrivateIps.Count > 0)
                throw new Ec2Exception(InvalidParameterCombination, "The parameters 'privateIpAddresses' and 'secondaryPrivateIpAddressCount' cannot be used together.");
            var total = 1 + spec.SecondaryPrivateIps.Count + spec.SecondaryPrivateIpCount;
            if (total > _options.MaxIpsPerUnattachedEni)
                throw new Ec2Exception(PrivateIpAddressLimitExceeded, "Number of private addresses will exceed limit.");
            var requested = spec.PrivateIp is null ? spec.SecondaryPrivateIps : [spec.PrivateIp, .. spec.SecondaryPrivateIps];
            var requestedText = ValidateRequestedAddresses(subnet, requested);
            var picked = AllocateAddresses(subnet, total - requestedText.Count, requestedText);
            var eni = NewEniRecord(subnet, spec.Description, groups);
            // The primary is the requested PrivateIpAddress when given, else a picked one.
            List<string> all = spec.PrivateIp is null ? [.. picked.Take(1), .. requestedText, .. picked.Skip(1)] : [.. requestedText, .. picked];
            eni.PrivateIp = all[0];
            eni.SecondaryIps = [.. all.Skip(1)];
            eni.Tags = ValidateTags(spec.Tags, []);
            await Realize(() => _fabric.EniChangedAsync(eni.Id, ToSnapshot(eni), cancellationToken));
            lock (_gate) AddEni(eni);
            return ToEni(eni);
        }, cancellationToken);
    }

    /// <summary>DeleteNetworkInterface: only an available (detached) ENI can be deleted.</summary>
    public Task DeleteNetworkInterfaceAsync(string networkInterfaceId, CancellationToken cancellationToken = default) =>
        MutateAsync(async () =>
        {
            var eni = RequireEni(networkInterfaceId);
            if (eni.Attachment is not null)
                throw new Ec2Exception(InvalidNetworkInterfaceInUse, $"Network interface '{eni.Id}' is currently in use.");
            await Realize(() => _fabric.EniChangedAsync(eni.Id, null, cancellationToken));
            lock (_gate) RemoveEni(eni);
            return true;
        }, cancellationToken);

    /// <summary>
    /// AttachNetworkInterface; returns the attachment id. With <paramref name="attachLatency"/> the
    /// attachment shows as "attaching" (and holds its device index) for that long before the fabric
    /// realizes it, like a slow hot-plug in EC2.
    /// </summary>
    public async Task<string> AttachNetworkInterfaceAsync(string networkInterfaceId, string instanceId, int deviceIndex,
        TimeSpan attachLatency = default, CancellationToken cancellationToken = default)
    {
        var (attachmentId, eni) = await MutateAsync(() =>
        {
            var eni = RequireEni(networkInterfaceId);
            var instance = RequireInstance(instanceId);
            var limits = _types[instance.InstanceType];
            if (deviceIndex < 0)
                throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{deviceIndex}' for deviceIndex.");
            if (eni.Attachment is not null)
                throw new Ec2Exception(InvalidNetworkInterfaceInUse, $"Interface: [{eni.Id}] in use.");
            var subnet = _state.Subnets[eni.SubnetId];
            var instanceAz = _state.Subnets[instance.SubnetId].AvailabilityZone;
            if (subnet.AvailabilityZone != instanceAz)
                throw new Ec2Exception(InvalidParameterCombination,
                    $"You may not attach a network interface to an instance if they are not in the same availability zone");
            var attached = _state.Enis.Values.Where(e => e.Attachment?.InstanceId == instance.Id).ToList();
            if (attached.Any(e => e.Attachment!.DeviceIndex == deviceIndex))
                throw new Ec2Exception(InvalidParameterValue, $"Instance '{instance.Id}' already has an interface attached at device index '{deviceIndex}'.");
            if (attached.Count >= limits.MaximumNetworkInterfaces)
                throw new Ec2Exception(AttachmentLimitExceeded, $"Interface count {attached.Count + 1} exceeds the limit for {instance.InstanceType}");
            // EC2 caps device indexes at the type's interface count (a 3-ENI type has indexes 0–2).
            if (deviceIndex >= limits.MaximumNetworkInterfaces)
                throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{deviceIndex}' for deviceIndex. The maximum for {instance.InstanceType} is {limits.MaximumNetworkInterfaces - 1}.");
            if (1 + eni.SecondaryIps.Count > limits.Ipv4AddressesPerInterface)
                throw new Ec2Exception(PrivateIpAddressLimitExceeded,
                    $"Network interface '{eni.Id}' has {1 + eni.SecondaryIps.Count} private addresses; {instance.InstanceType} allows {limits.Ipv4AddressesPerInterface} per interface.");
            var attachment = new AttachmentRecord
            {
                Id = NewId("eni-attach-", _state),
                InstanceId = instance.Id,
                DeviceIndex = deviceIndex,
                Status = "attaching",
                DeleteOnTermination = false,
                AttachTime = Time.GetUtcNow(),
            };
            lock (_gate) eni.Attachment = attachment;
            return Task.FromResult((attachment.Id, eni));
        }, cancellationToken).ConfigureAwait(false);

        // From here on the attach is accepted: like EC2 it completes (or fails) even when the
        // caller goes away, so the token no longer applies.
        if (attachLatency > TimeSpan.Zero)
            await Task.Delay(attachLatency, Time).ConfigureAwait(false);
        await MutateAsync(async () =>
        {
            if (eni.Attachment?.Id != attachmentId || !_state.Enis.ContainsKey(eni.Id))
                throw new Ec2Exception(IncorrectState, $"The attachment '{attachmentId}' was removed before it completed.");
            try
            {
                await Realize(() => _fabric.AttachAsync(ToAttachment(eni), CancellationToken.None));
            }
            catch (Ec2Exception)
            {
                lock (_gate) eni.Attachment = null;
                Persist();
                throw;
            }
            lock (_gate) eni.Attachment!.Status = "attached";
            return true;
        }, CancellationToken.None).ConfigureAwait(false);
        return attachmentId;
    }

    /// <summary>
    /// DetachNetworkInterface. The fabric removes the ENI's link wherever it is now; the lab
    /// treats <paramref name="force"/> like EC2 does for an unresponsive instance — the same.
    /// </summary>
    public Task DetachNetworkInterfaceAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default) =>
        MutateAsync(async () =>
        {
            if (string.IsNullOrEmpty(attachmentId))
                throw new Ec2Exception(MissingParameter, "The request must contain the parameter attachmentId");
            var eni = _state.Enis.Values.FirstOrDefault(e => e.Attachment?.Id == attachmentId)
                ?? throw new Ec2Exception(InvalidAttachmentIdNotFound, $"The attachmentId '{attachmentId}' does not exist");
            var attachment = eni.Attachment!;
            if (attachment.DeviceIndex == 0)
                throw new Ec2Exception(OperationNotPermitted, "The network interface at device index 0 cannot be detached.");
            if (attachment.Status == "attaching" && !force)
                throw new Ec2Exception(IncorrectState, $"The attachment '{attachmentId}' is not in a valid state for this operation (attaching).");
            if (attachment.Status == "attached")
                await Realize(() => _fabric.DetachAsync(ToAttachment(eni), cancellationToken));
            lock (_gate) eni.Attachment = null;
            return true;
        }, cancellationToken);

    /// <summary>
    /// AssignPrivateIpAddresses: either the given addresses or <paramref name="count"/> picked ones
    /// become secondaries of the ENI. Returns the addresses assigned.
    /// </summary>
    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpAddressesAsync(string networkInterfaceId, IReadOnlyList<IPAddress> addresses,
        int count, CancellationToken cancellationToken = default) =>
        MutateAsync(async () =>
        {
            var eni = RequireEni(networkInterfaceId);
            if (addresses.Count > 0 && count > 0)
                throw new Ec2Exception(InvalidParameterCombination, "The parameters 'privateIpAddress' and 'secondaryPrivateIpAddressCount' cannot be used together.");
            if (addresses.Count == 0 && count <= 0)
                throw new Ec2Exception(MissingParameter, "Either 'privateIpAddress' or 'secondaryPrivateIpAddressCount' must be specified.");
            var adding = addresses.Count + count;
            var limit = _options.MaxIpsPerUnattachedEni;
            if (eni.Attachment is { } a && _state.Instances.TryGetValue(a.InstanceId, out var instance))
                limit = _types[instance.InstanceType].Ipv4AddressesPerInterface;
            if (1 + eni.SecondaryIps.Count + adding > limit)
                throw new Ec2Exception(PrivateIpAddressLimitExceeded, "Number of private addresses will exceed limit.");
            var subnet = _state.Subnets[eni.SubnetId];
            var requested = ValidateRequestedAddresses(subnet, addresses);
            var picked = AllocateAddresses(subnet, count, requested);
            List<string> added = [.. requested, .. picked];
            var next = CloneAddressing(eni);
            next.SecondaryIps.AddRange(added);
            await Realize(() => _fabric.EniChangedAsync(eni.Id, ToSnapshot(next), cancellationToken));
            lock (_gate)
            {
                eni.SecondaryIps.AddRange(added);
                foreach (var ip in added) _usedAddresses[subnet.Id].Add(ToUInt(IPAddress.Parse(ip)));
            }
            return (IReadOnlyList<IPAddress>)[.. added.Select(IPAddress.Parse)];
        }, cancellationToken);

    /// <summary>UnassignPrivateIpAddresses: secondary addresses only; the primary stays with the ENI for life.</summary>
    public Task UnassignPrivateIpAddressesAsync(string networkInterfaceId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default) =>
        MutateAsync(async () =>
        {
            var eni = RequireEni(networkInterfaceId);
            if (addresses.Count == 0)
                throw new Ec2Exception(MissingParameter, "The request must contain the parameter privateIpAddress");
            var removing = addresses.Select(a => a.ToString()).Distinct().ToList();
            if (removing.Contains(eni.PrivateIp))
                throw new Ec2Exception(InvalidParameterValue, $"The primary private IP address {eni.PrivateIp} of network interface '{eni.Id}' cannot be unassigned.");
            if (removing.Any(ip => !eni.SecondaryIps.Contains(ip)))
                throw new Ec2Exception(InvalidParameterValue, $"Some of the specified addresses are not assigned to interface {eni.Id}");
            var next = CloneAddressing(eni);
            next.SecondaryIps.RemoveAll(removing.Contains);
            await Realize(() => _fabric.EniChangedAsync(eni.Id, ToSnapshot(next), cancellationToken));
            lock (_gate)
            {
                eni.SecondaryIps.RemoveAll(removing.Contains);
                foreach (var ip in removing) _usedAddresses[eni.SubnetId].Remove(ToUInt(IPAddress.Parse(ip)));
            }
            return true;
        }, cancellationToken);

    /// <summary>
    /// ModifyNetworkInterfaceAttribute: the attachment's DeleteOnTermination (with its attachment
    /// id), the security groups, or the description. Null leaves an attribute as it is.
    /// </summary>
    public Task ModifyNetworkInterfaceAttributeAsync(string networkInterfaceId, string? attachmentId, bool? deleteOnTermination,
        IReadOnlyList<string>? securityGroupIds, string? description, CancellationToken cancellationToken = default) =>
        MutateAsync(() =>
        {
            var eni = RequireEni(networkInterfaceId);
            if (attachmentId is null != deleteOnTermination is null)
                throw new Ec2Exception(MissingParameter, "Attachment.AttachmentId and Attachment.DeleteOnTermination must be given together.");
            if (attachmentId is null && deleteOnTermination is null && securityGroupIds is null && description is null)
                throw new Ec2Exception(MissingParameter, "The request must contain an attribute to modify.");
            if (attachmentId is not null && eni.Attachment?.Id != attachmentId)
                throw new Ec2Exception(InvalidAttachmentIdNotFound, $"The attachmentId '{attachmentId}' does not exist");
            var groups = securityGroupIds is null ? null : RequireGroups(securityGroupIds);
            if (groups is { Count: 0 })
                throw new Ec2Exception(InvalidParameterValue, "A network interface must have at least one security group.");
            lock (_gate)
            {
                if (deleteOnTermination is { } dot) eni.Attachment!.DeleteOnTermination = dot;
                if (groups is not null) eni.SecurityGroupIds = groups;
                if (description is not null) eni.Description = description;
            }
            return Task.FromResult(true);
        }, cancellationToken);

    /// <summary>CreateTags on ENIs, instances, subnets or security groups (a key's value is replaced).</summary>
    public Task CreateTagsAsync(IReadOnlyList<string> resourceIds, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        MutateAsync(() =>
        {
            if (resourceIds.Count == 0) throw new Ec2Exception(MissingParameter, "The request must contain the parameter resourceIdSet");
            if (tags.Count == 0) throw new Ec2Exception(MissingParameter, "The request must contain the parameter tagSet");
            var targets = resourceIds.Select(RequireTaggable).ToList();
            var merged = targets.Select(t => ValidateTags(tags, t)).ToList();
            lock (_gate)
                for (var i = 0; i < targets.Count; i++)
                {
                    targets[i].Clear();
                    foreach (var (k, v) in merged[i]) targets[i][k] = v;
                }
            return Task.FromResult(true);
        }, cancellationToken);

    /// <summary>
    /// DeleteTags: a key with a null value is deleted whatever its value, with a value only when
    /// it matches; no tags at all deletes every tag of the resources (EC2's rules).
    /// </summary>
    public Task DeleteTagsAsync(IReadOnlyList<string> resourceIds, IReadOnlyList<KeyValuePair<string, string?>> tags,
        CancellationToken cancellationToken = default) =>
        MutateAsync(() =>
        {
            if (resourceIds.Count == 0) throw new Ec2Exception(MissingParameter, "The request must contain the parameter resourceIdSet");
            var targets = resourceIds.Select(RequireTaggable).ToList();
            lock (_gate)
                foreach (var target in targets)
                {
                    if (tags.Count == 0) { target.Clear(); continue; }
                    foreach (var (key, value) in tags)
                        if (target.TryGetValue(key, out var current) && (value is null || value == current))
                            target.Remove(key);
                }
            return Task.FromResult(true);
        }, cancellationToken);

    // ---------------------------------------------------------------- internals

    private T Mutate<T>(Func<T> body) =>
        MutateAsync(() => Task.FromResult(body()), CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Runs one writer under the mutex and persists the state when it succeeded.</summary>
    private async Task<T> MutateAsync<T>(Func<Task<T>> body, CancellationToken cancellationToken)
    {
        await _mutex.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var result = await body().ConfigureAwait(false);
            Persist();
            return result;
        }
        finally
        {
            _mutex.Release();
        }
    }

    /// <summary>Calls the fabric; any failure of it becomes EC2's InternalError (IVpcFabric's contract).</summary>
    private static async Task Realize(Func<Task> call)
    {
        try
        {
            await call().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not Ec2Exception and not OperationCanceledException)
        {
            throw new Ec2Exception(InternalError, "An internal error has occurred", HttpStatusCode.InternalServerError, e);
        }
    }

    private async Task UndoEniChanged(string eniId)
    {
        try { await _fabric.EniChangedAsync(eniId, null, CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { /* already failing; the first error is the one to report */ }
    }

    /// <summary>Rewrites <see cref="Ec2CloudOptions.StatePath"/>, if any: a record to inspect, never read back.</summary>
    private void Persist()
    {
        if (_options.StatePath is not { } path) return;
        byte[] json;
        lock (_gate) json = JsonSerializer.SerializeToUtf8Bytes(_state, Ec2CloudStateJson.Default.Ec2CloudState);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.Write(path, json);
    }

    private string NewId(string prefix, Ec2CloudState state)
    {
        // EC2's long ids: the prefix and 17 lower-case hex digits.
        Span<byte> bytes = stackalloc byte[9];
        while (true)
        {
            _random.NextBytes(bytes);
            var id = prefix + Convert.ToHexStringLower(bytes)[..17];
            if (!state.Enis.ContainsKey(id) && !state.Instances.ContainsKey(id) && !state.Subnets.ContainsKey(id)
                && !state.SecurityGroups.ContainsKey(id) && !state.Enis.Values.Any(e => e.Attachment?.Id == id))
                return id;
        }
    }

    private EniRecord NewEniRecord(SubnetRecord subnet, string description, List<string> groups)
    {
        string mac;
        var bytes = new byte[6];
        do
        {
            // 02: a locally administered unicast MAC, as EC2 hands out.
            _random.NextBytes(bytes.AsSpan(1));
            bytes[0] = 0x02;
            mac = InterfaceNames.FormatMac(new PhysicalAddress(bytes));
        } while (_state.Enis.Values.Any(e => e.MacAddress == mac));
        return new EniRecord
        {
            Id = NewId("eni-", _state),
            SubnetId = subnet.Id,
            MacAddress = mac,
            Description = description,
            SecurityGroupIds = groups,
        };
    }

    private void AddEni(EniRecord eni)
    {
        _state.Enis[eni.Id] = eni;
        foreach (var ip in EniAddresses(eni)) _usedAddresses[eni.SubnetId].Add(ToUInt(IPAddress.Parse(ip)));
    }

    private void RemoveEni(EniRecord eni)
    {
        _state.Enis.Remove(eni.Id);
        foreach (var ip in EniAddresses(eni)) _usedAddresses[eni.SubnetId].Remove(ToUInt(IPAddress.Parse(ip)));
    }

    private static IEnumerable<string> EniAddresses(EniRecord eni) => eni.SecondaryIps.Prepend(eni.PrivateIp);

    private static EniRecord CloneAddressing(EniRecord eni) => new()
    {
        Id = eni.Id, SubnetId = eni.SubnetId, MacAddress = eni.MacAddress, PrivateIp = eni.PrivateIp, SecondaryIps = [.. eni.SecondaryIps],
    };

    /// <summary>Usable host range of a subnet: after the four reserved at the start, before the broadcast address.</summary>
    private static (uint First, uint Last) UsableRange(IPNetwork net)
    {
        var baseAddress = ToUInt(net.BaseAddress);
        var size = 1u << (32 - net.PrefixLength);
        return (baseAddress + 4, baseAddress + size - 2);
    }

    private List<string> ValidateRequestedAddresses(SubnetRecord subnet, IReadOnlyList<IPAddress> requested)
    {
        var net = IPNetwork.Parse(subnet.Cidr);
        var (first, last) = UsableRange(net);
        var used = _usedAddresses[subnet.Id];
        var result = new List<string>();
        foreach (var ip in requested)
        {
            if (ip.AddressFamily != AddressFamily.InterNetwork || !net.Contains(ip))
                throw new Ec2Exception(InvalidParameterValue, $"Address {ip} does not fall within the subnet's address range");
            var value = ToUInt(ip);
            if (value < first || value > last)
                throw new Ec2Exception(InvalidParameterValue, $"Address {ip} is reserved in subnet {subnet.Id}");
            if (used.Contains(value) || result.Contains(ip.ToString()))
                throw new Ec2Exception(InvalidIpAddressInUse, $"Address {ip} is in use.");
            result.Add(ip.ToString());
        }
        return result;
    }

    /// <summary>
    /// Picks <paramref name="count"/> free addresses, not in <paramref name="alsoTaken"/>. EC2 does
    /// not hand out the lowest free address but a scattered one; the injected random source makes
    /// the choice deterministic in tests.
    /// </summary>
    private List<string> AllocateAddresses(SubnetRecord subnet, int count, List<string> alsoTaken)
    {
        var (first, last) = UsableRange(IPNetwork.Parse(subnet.Cidr));
        var used = _usedAddresses[subnet.Id];
        var taken = alsoTaken.Select(a => ToUInt(IPAddress.Parse(a))).ToHashSet();
        var span = last - first + 1;
        if (count > span - used.Count - taken.Count(t => !used.Contains(t)))
            throw new Ec2Exception(InsufficientFreeAddressesInSubnet, $"Insufficient free IP addresses in subnet {subnet.Id}.");
        var result = new List<string>(count);
        for (var i = 0; i < count; i++)
        {
            var candidate = first + (uint)_random.NextInt64(span);
            while (used.Contains(candidate) || taken.Contains(candidate))
                candidate = candidate == last ? first : candidate + 1;
            taken.Add(candidate);
            result.Add(FromUInt(candidate).ToString());
        }
        return result;
    }

    private Dictionary<string, string> ValidateTags(IReadOnlyDictionary<string, string> adding, Dictionary<string, string> existing)
    {
        var merged = new Dictionary<string, string>(existing, StringComparer.Ordinal);
        foreach (var (key, value) in adding)
        {
            if (string.IsNullOrEmpty(key) || key.Length > 128)
                throw new Ec2Exception(InvalidParameterValue, $"Tag key '{key}' must be 1 to 128 characters.");
            if (key.StartsWith("aws:", StringComparison.OrdinalIgnoreCase))
                throw new Ec2Exception(InvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use");
            if (value.Length > 256)
                throw new Ec2Exception(InvalidParameterValue, $"Tag value for key '{key}' exceeds 256 characters.");
            merged[key] = value;
        }
        if (merged.Count > MaxTagsPerResource)
            throw new Ec2Exception(TagLimitExceeded, $"The maximum number of tags per resource ({MaxTagsPerResource}) would be exceeded.");
        return merged;
    }

    private Dictionary<string, string> RequireTaggable(string id)
    {
        if (id.StartsWith("eni-", StringComparison.Ordinal)) return RequireEni(id).Tags;
        if (id.StartsWith("i-", StringComparison.Ordinal)) return RequireInstance(id).Tags;
        if (id.StartsWith("subnet-", StringComparison.Ordinal)) return RequireSubnet(id).Tags;
        if (id.StartsWith("sg-", StringComparison.Ordinal))
            return _state.SecurityGroups.TryGetValue(id, out var g) ? g.Tags
                : throw new Ec2Exception(InvalidGroupNotFound, $"The security group '{id}' does not exist");
        throw new Ec2Exception(InvalidId, $"The ID '{id}' is not valid");
    }

    private EniRecord RequireEni(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new Ec2Exception(MissingParameter, "The request must contain the parameter networkInterfaceId");
        if (!Ec2Ids.IsWellFormed(id, "eni-"))
            throw new Ec2Exception(InvalidNetworkInterfaceIdMalformed, $"Invalid id: \"{id}\" (expecting \"eni-...\")");
        return _state.Enis.TryGetValue(id, out var eni) ? eni
            : throw new Ec2Exception(InvalidNetworkInterfaceIdNotFound, $"The networkInterface ID '{id}' does not exist");
    }

    private InstanceRecord RequireInstance(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new Ec2Exception(MissingParameter, "The request must contain the parameter instanceId");
        if (!Ec2Ids.IsWellFormed(id, "i-"))
            throw new Ec2Exception(InvalidInstanceIdMalformed, $"Invalid id: \"{id}\"");
        return _state.Instances.TryGetValue(id, out var instance) ? instance
            : throw new Ec2Exception(InvalidInstanceIdNotFound, $"The instance ID '{id}' does not exist");
    }

    private SubnetRecord RequireSubnet(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new Ec2Exception(MissingParameter, "The request must contain the parameter subnetId");
        return _state.Subnets.TryGetValue(id, out var subnet) ? subnet
            : throw new Ec2Exception(InvalidSubnetIdNotFound, $"The subnet ID '{id}' does not exist");
    }

    private List<string> RequireGroups(IReadOnlyList<string> ids)
    {
        foreach (var id in ids)
            if (!_state.SecurityGroups.ContainsKey(id))
                throw new Ec2Exception(InvalidGroupNotFound, $"The security group '{id}' does not exist in VPC '{VpcId}'");
        return [.. ids.Distinct()];
    }

    /// <summary>The VPC router's address in a subnet: the network address + 1 (AWS reserves it) — for the API and the lab's bridge alike.</summary>
    internal static IPAddress Gateway(IPNetwork subnet) => FromUInt(ToUInt(subnet.BaseAddress) + 1);

    private static bool Overlaps(IPNetwork a, IPNetwork b) => a.Contains(b.BaseAddress) || b.Contains(a.BaseAddress);

    internal static uint ToUInt(IPAddress ip)
    {
        Span<byte> bytes = stackalloc byte[4];
        ip.TryWriteBytes(bytes, out _);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }

    internal static IPAddress FromUInt(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    // ---------------------------------------------------------------- snapshots (callers hold _gate or the mutex)

    private Subnet ToSubnet(SubnetRecord r)
    {
        var net = IPNetwork.Parse(r.Cidr);
        var size = 1 << (32 - net.PrefixLength);
        return new Subnet(r.Id, _state.VpcId, net, r.AvailabilityZone, Gateway(net),
            size - ReservedAddressesPerSubnet - _usedAddresses[r.Id].Count, new Dictionary<string, string>(r.Tags));
    }

    private SecurityGroup ToGroup(SecurityGroupRecord r) => new(r.Id, r.Name, r.Description, _state.VpcId, new Dictionary<string, string>(r.Tags));

    private Instance ToInstance(InstanceRecord r)
    {
        var primary = _state.Enis.GetValueOrDefault(r.PrimaryEniId);
        return new Instance(r.Id, r.InstanceType, r.NodeName, r.SubnetId, _state.Subnets[r.SubnetId].AvailabilityZone,
            IPAddress.Parse(primary?.PrivateIp ?? "0.0.0.0"), r.PrimaryEniId, primary?.MacAddress ?? "",
            "running", r.LaunchTime, [.. primary?.SecurityGroupIds ?? []], new Dictionary<string, string>(r.Tags));
    }

    private NetworkInterface ToEni(EniRecord r)
    {
        var a = r.Attachment;
        return new NetworkInterface(r.Id, r.SubnetId, _state.VpcId, _state.Subnets[r.SubnetId].AvailabilityZone, r.MacAddress,
            r.Description, IPAddress.Parse(r.PrivateIp), [.. r.SecondaryIps.Select(IPAddress.Parse)], [.. r.SecurityGroupIds],
            new Dictionary<string, string>(r.Tags), a is null ? "available" : "in-use",
            a is null ? null : new NetworkInterfaceAttachment(a.Id, a.InstanceId, a.DeviceIndex, a.Status, a.DeleteOnTermination, a.AttachTime));
    }

    private static EniSnapshot ToSnapshot(EniRecord r) =>
        new(r.Id, r.MacAddress, r.SubnetId, IPAddress.Parse(r.PrivateIp), [.. r.SecondaryIps.Select(IPAddress.Parse)]);

    private static EniAttachment ToAttachment(EniRecord r) =>
        new(r.Id, r.Attachment!.InstanceId, r.Attachment.DeviceIndex, r.MacAddress, r.SubnetId, IPAddress.Parse(r.PrivateIp));
}
