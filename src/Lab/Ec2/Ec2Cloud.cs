using System.Net;
using System.Net.Sockets;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// The emulated EC2 control plane of one VPC: subnets, security groups, instances and ENIs, with
/// AWS's limits and error codes. Thread-safe. Every mutation is validated first, then realized
/// through the <see cref="IVpcFabric"/>, then applied — so a fabric failure leaves the state as
/// it was and the action fails with InternalError (IVpcFabric's contract).
/// </summary>
/// <remarks>
/// This is the public face; the work is done by <see cref="InstanceLifecycle"/>,
/// <see cref="EniLifecycle"/>, <see cref="SubnetAddressing"/> and <see cref="ResourceTags"/> over
/// the shared <see cref="Ec2Vpc"/> (records, locks, ids, ec2.json), whose remarks say how writers
/// and readers are serialized. A fabric may read the cloud (TryGet*, GetInstanceEnis, …) from its
/// callbacks, but must not call a mutating method there: that would wait for the very writer that
/// is calling it.
/// </remarks>
public sealed class Ec2Cloud
{
    private readonly Ec2Vpc _vpc;
    private readonly InstanceLifecycle _instances;
    private readonly EniLifecycle _enis;

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
        _vpc = new Ec2Vpc(fabric, options, time ?? TimeProvider.System, random ?? new Random());
        _instances = new InstanceLifecycle(_vpc);
        _enis = new EniLifecycle(_vpc);
        var sg = new SecurityGroupRecord { Id = _vpc.Ids.NewId("sg-"), Name = "default", Description = "default VPC security group" };
        _vpc.State.SecurityGroups[sg.Id] = sg;
        _vpc.State.DefaultSecurityGroupId = sg.Id;
        _vpc.Persist();
    }

    // ---------------------------------------------------------------- reading

    /// <summary>The clock the cloud stamps times with.</summary>
    public TimeProvider Time => _vpc.Time;

    /// <summary>The VPC's id.</summary>
    public string VpcId => _vpc.State.VpcId;

    /// <summary>The VPC's CIDR.</summary>
    public IPNetwork VpcCidr => _vpc.Options.VpcCidr;

    /// <summary>The region the lab answers as.</summary>
    public string Region => _vpc.Options.Region;

    /// <summary>The owner account of every resource.</summary>
    public string AccountId => _vpc.Options.AccountId;

    /// <summary>The AMI reported for instances.</summary>
    public string ImageId => _vpc.Options.ImageId;

    /// <summary>The VPC's default security group (given to ENIs created without groups).</summary>
    public string DefaultSecurityGroupId => _vpc.State.DefaultSecurityGroupId;

    /// <summary>The instance types this cloud offers.</summary>
    public IReadOnlyList<InstanceTypeLimits> InstanceTypes => _vpc.Options.InstanceTypes;

    /// <summary>Looks up an instance type's limits.</summary>
    public bool TryGetInstanceType(string name, out InstanceTypeLimits limits) => _vpc.TryGetInstanceType(name, out limits);

    /// <summary>All subnets, by id.</summary>
    public IReadOnlyList<Subnet> Subnets => Snapshot(_vpc.State.Subnets, _vpc.ToSubnet);

    /// <summary>All security groups, by id.</summary>
    public IReadOnlyList<SecurityGroup> SecurityGroups => Snapshot(_vpc.State.SecurityGroups, _vpc.ToGroup);

    /// <summary>All running instances, by id.</summary>
    public IReadOnlyList<Instance> Instances => Snapshot(_vpc.State.Instances, _vpc.ToInstance);

    /// <summary>All ENIs, by id (the order DescribeNetworkInterfaces pages through).</summary>
    public IReadOnlyList<NetworkInterface> NetworkInterfaces => Snapshot(_vpc.State.Enis, _vpc.ToEni);

    /// <summary>Looks up a subnet.</summary>
    public bool TryGetSubnet(string id, out Subnet subnet) => TryGet(_vpc.State.Subnets, id, _vpc.ToSubnet, out subnet);

    /// <summary>Looks up a running instance.</summary>
    public bool TryGetInstance(string id, out Instance instance) => TryGet(_vpc.State.Instances, id, _vpc.ToInstance, out instance);

    /// <summary>Looks up an ENI.</summary>
    public bool TryGetEni(string id, out NetworkInterface eni) => TryGet(_vpc.State.Enis, id, _vpc.ToEni, out eni);

    /// <summary>
    /// The instance that owns this private IP through one of its attached ENIs (primary or
    /// secondary address) — how IMDS tells which instance is calling. Null when none does.
    /// </summary>
    public Instance? FindInstanceByPrivateIp(IPAddress ip)
    {
        var v4 = ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;
        lock (_vpc.Gate)
        {
            foreach (var eni in _vpc.State.Enis.Values)
                if (eni.Attachment is { } a && eni.Addresses.Contains(v4) && _vpc.State.Instances.TryGetValue(a.InstanceId, out var inst))
                    return _vpc.ToInstance(inst);
            return null;
        }
    }

    /// <summary>The ENIs attached (or attaching) to an instance, by device index.</summary>
    public IReadOnlyList<NetworkInterface> GetInstanceEnis(string instanceId)
    {
        lock (_vpc.Gate) return [.. _vpc.EnisOf(instanceId).Select(_vpc.ToEni)];
    }

    private IReadOnlyList<T> Snapshot<TRecord, T>(Dictionary<string, TRecord> records, Func<TRecord, T> view)
    {
        lock (_vpc.Gate) return [.. records.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => view(r.Value))];
    }

    private bool TryGet<TRecord, T>(Dictionary<string, TRecord> records, string id, Func<TRecord, T> view, out T value)
        where TRecord : class
    {
        lock (_vpc.Gate)
        {
            value = records.TryGetValue(id, out var r) ? view(r) : default!;
            return r is not null;
        }
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
        if (net.PrefixLength is < 16 or > 28 || !VpcCidr.Contains(net.BaseAddress) || net.PrefixLength < VpcCidr.PrefixLength)
            throw new Ec2Exception(InvalidSubnetRange, $"The CIDR '{cidr}' is invalid.");
        if (string.IsNullOrEmpty(availabilityZone))
            throw new Ec2Exception(MissingParameter, "The request must contain the parameter availabilityZone");
        return _vpc.Mutate(() =>
        {
            if (_vpc.State.Subnets.Values.Any(s => s.Cidr.Contains(net.BaseAddress) || net.Contains(s.Cidr.BaseAddress)))
                throw new Ec2Exception(InvalidSubnetConflict, $"The CIDR '{cidr}' conflicts with another subnet");
            var record = new SubnetRecord { Id = _vpc.Ids.NewId("subnet-"), Cidr = net, AvailabilityZone = availabilityZone };
            lock (_vpc.Gate)
            {
                _vpc.State.Subnets[record.Id] = record;
                _vpc.Addressing.AddSubnet(record.Id);
            }
            return _vpc.ToSubnet(record);
        });
    }

    /// <summary>Adds a security group to the VPC.</summary>
    public SecurityGroup CreateSecurityGroup(string name, string description)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return _vpc.Mutate(() =>
        {
            if (_vpc.State.SecurityGroups.Values.Any(g => g.Name == name))
                throw new Ec2Exception(InvalidGroupDuplicate, $"The security group '{name}' already exists for VPC '{VpcId}'");
            var record = new SecurityGroupRecord { Id = _vpc.Ids.NewId("sg-"), Name = name, Description = description };
            lock (_vpc.Gate) _vpc.State.SecurityGroups[record.Id] = record;
            return _vpc.ToGroup(record);
        });
    }

    /// <summary>
    /// Launches an instance: its primary ENI (device index 0, DeleteOnTermination) gets an address
    /// in the subnet and is attached through the fabric. The instance is tagged Name=<paramref name="nodeName"/>.
    /// </summary>
    public Task<Instance> LaunchInstanceAsync(string instanceType, string subnetId, string nodeName, CancellationToken cancellationToken = default) =>
        _instances.LaunchAsync(instanceType, subnetId, nodeName, cancellationToken);

    /// <summary>
    /// Terminates an instance: every attached ENI is detached through the fabric, those with
    /// DeleteOnTermination are deleted (the primary always is), the others become available.
    /// </summary>
    public Task TerminateInstanceAsync(string instanceId, CancellationToken cancellationToken = default) =>
        _instances.TerminateAsync(instanceId, cancellationToken);

    // ---------------------------------------------------------------- EC2 actions

    /// <summary>CreateNetworkInterface.</summary>
    public Task<NetworkInterface> CreateNetworkInterfaceAsync(CreateNetworkInterfaceSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return _enis.CreateAsync(spec, cancellationToken);
    }

    /// <summary>DeleteNetworkInterface: only an available (detached) ENI can be deleted.</summary>
    public Task DeleteNetworkInterfaceAsync(string networkInterfaceId, CancellationToken cancellationToken = default) =>
        _enis.DeleteAsync(networkInterfaceId, cancellationToken);

    /// <summary>
    /// AttachNetworkInterface; returns the attachment id. With <paramref name="attachLatency"/> the
    /// attachment shows as attaching (and holds its device index) for that long before the fabric
    /// realizes it, like a slow hot-plug in EC2.
    /// </summary>
    public Task<string> AttachNetworkInterfaceAsync(string networkInterfaceId, string instanceId, int deviceIndex,
        TimeSpan attachLatency = default, CancellationToken cancellationToken = default) =>
        _enis.AttachAsync(networkInterfaceId, instanceId, deviceIndex, attachLatency, cancellationToken);

    /// <summary>
    /// DetachNetworkInterface. The fabric removes the ENI's link wherever it is now; the lab
    /// treats <paramref name="force"/> like EC2 does for an unresponsive instance — the same.
    /// </summary>
    public Task DetachNetworkInterfaceAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default) =>
        _enis.DetachAsync(attachmentId, force, cancellationToken);

    /// <summary>
    /// AssignPrivateIpAddresses: either the given addresses or <paramref name="count"/> picked ones
    /// become secondaries of the ENI; with <paramref name="allowReassignment"/> given addresses another
    /// ENI of the subnet holds move from it (EC2's AllowReassignment). Returns the addresses assigned.
    /// </summary>
    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpAddressesAsync(string networkInterfaceId, IReadOnlyList<IPAddress> addresses,
        int count, CancellationToken cancellationToken = default, bool allowReassignment = false) =>
        _enis.AssignPrivateIpAddressesAsync(networkInterfaceId, addresses, count, allowReassignment, cancellationToken);

    /// <summary>UnassignPrivateIpAddresses: secondary addresses only; the primary stays with the ENI for life.</summary>
    public Task UnassignPrivateIpAddressesAsync(string networkInterfaceId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default) =>
        _enis.UnassignPrivateIpAddressesAsync(networkInterfaceId, addresses, cancellationToken);

    /// <summary>
    /// ModifyNetworkInterfaceAttribute: the attachment's DeleteOnTermination (with its attachment
    /// id), the security groups, or the description. Null leaves an attribute as it is.
    /// </summary>
    public Task ModifyNetworkInterfaceAttributeAsync(string networkInterfaceId, string? attachmentId, bool? deleteOnTermination,
        IReadOnlyList<string>? securityGroupIds, string? description, CancellationToken cancellationToken = default) =>
        _enis.ModifyAttributeAsync(networkInterfaceId, attachmentId, deleteOnTermination, securityGroupIds, description, cancellationToken);

    /// <summary>CreateTags on ENIs, instances, subnets or security groups (a key's value is replaced).</summary>
    public Task CreateTagsAsync(IReadOnlyList<string> resourceIds, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        _vpc.MutateAsync(() =>
        {
            if (resourceIds.Count == 0) throw new Ec2Exception(MissingParameter, "The request must contain the parameter resourceIdSet");
            if (tags.Count == 0) throw new Ec2Exception(MissingParameter, "The request must contain the parameter tagSet");
            var targets = resourceIds.Select(_vpc.RequireTaggable).ToList();
            var merged = targets.Select(t => ResourceTags.Merge(tags, t)).ToList();
            lock (_vpc.Gate)
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
        _vpc.MutateAsync(() =>
        {
            if (resourceIds.Count == 0) throw new Ec2Exception(MissingParameter, "The request must contain the parameter resourceIdSet");
            var targets = resourceIds.Select(_vpc.RequireTaggable).ToList();
            lock (_vpc.Gate)
                foreach (var target in targets) ResourceTags.Delete(target, tags);
            return Task.FromResult(true);
        }, cancellationToken);
}
