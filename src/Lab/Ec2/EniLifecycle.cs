using System.Net;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// The EC2 actions on network interfaces and their attachments: create, delete, attach, detach,
/// assign and unassign addresses, modify. Each validates first, then realizes the change through
/// the fabric, then applies it — so a fabric failure leaves the state as it was.
/// </summary>
/// <remarks>
/// The one writer that lets go of the mutex mid-way is AttachNetworkInterface with an attach
/// latency: it reserves the device index (<see cref="AttachmentState.Attaching"/>), waits, then
/// completes — so slow attaches overlap as they do in EC2.
/// </remarks>
internal sealed class EniLifecycle(Ec2Vpc vpc)
{
    /// <summary>A new ENI record with a fresh MAC and id (drawn in that order), not yet addressed nor stored.</summary>
    public static EniRecord NewRecord(Ec2Vpc vpc, SubnetRecord subnet, string description, List<string> groups)
    {
        var mac = vpc.Ids.NewMac();
        return new EniRecord
        {
            Id = vpc.Ids.NewId("eni-"),
            SubnetId = subnet.Id,
            MacAddress = mac,
            Description = description,
            SecurityGroupIds = groups,
        };
    }

    /// <summary>
    /// Client tokens of the creates served (this server's life): token → the ENI it made and what
    /// was asked. EC2 keeps them for at least 24 hours; a lab server lives shorter.
    /// </summary>
    private readonly Dictionary<string, (string EniId, string Request)> _clientTokens = new(StringComparer.Ordinal);

    public Task<NetworkInterface> CreateAsync(CreateNetworkInterfaceSpec spec, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            // Idempotent by ClientToken (EC2 "Ensuring idempotency"): the same request again gets the
            // first answer; another request with a used token is refused. An ENI deleted since is made anew.
            var asked = Describe(spec);
            if (spec.ClientToken is { } token && _clientTokens.TryGetValue(token, out var earlier))
            {
                if (earlier.Request != asked)
                    throw new Ec2Exception(IdempotentParameterMismatch,
                        $"The client token '{token}' was already used with different parameters.");
                lock (vpc.Gate)
                    if (vpc.State.Enis.TryGetValue(earlier.EniId, out var made))
                        return vpc.ToEni(made);
            }
            var subnet = vpc.RequireSubnet(spec.SubnetId);
            var groups = spec.SecurityGroupIds.Count == 0 ? [vpc.State.DefaultSecurityGroupId] : vpc.RequireGroups(spec.SecurityGroupIds);
            var addresses = PickAddresses(subnet, spec);
            var eni = NewRecord(vpc, subnet, spec.Description, groups);
            eni.PrivateIp = addresses[0];
            eni.SecondaryIps = [.. addresses.Skip(1)];
            eni.Tags = ResourceTags.Merge(spec.Tags, []);
            await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(eni.Id, Ec2Vpc.ToSnapshot(eni), cancellationToken));
            lock (vpc.Gate) vpc.AddEni(eni);
            if (spec.ClientToken is { } used) _clientTokens[used] = (eni.Id, asked);
            return vpc.ToEni(eni);
        }, cancellationToken);

    // What a create asks for, to tell a retry from another request under the same token.
    private static string Describe(CreateNetworkInterfaceSpec spec) => string.Join('|',
        spec.SubnetId, string.Join(',', spec.SecurityGroupIds), spec.Description, spec.PrivateIp?.ToString(),
        string.Join(',', spec.SecondaryPrivateIps), spec.SecondaryPrivateIpCount,
        string.Join(',', spec.Tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $"{t.Key}={t.Value}")));

    /// <summary>A new ENI's addresses, primary first: the requested ones where given, picked ones for the rest.</summary>
    private List<IPAddress> PickAddresses(SubnetRecord subnet, CreateNetworkInterfaceSpec spec)
    {
        if (spec.SecondaryPrivateIpCount < 0)
            throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{spec.SecondaryPrivateIpCount}' for secondaryPrivateIpAddressCount.");
        if (spec.SecondaryPrivateIpCount > 0 && spec.SecondaryPrivateIps.Count > 0)
            throw new Ec2Exception(InvalidParameterCombination, "The parameters 'privateIpAddresses' and 'secondaryPrivateIpAddressCount' cannot be used together.");
        var total = 1 + spec.SecondaryPrivateIps.Count + spec.SecondaryPrivateIpCount;
        if (total > vpc.Options.MaxIpsPerUnattachedEni)
            throw new Ec2Exception(PrivateIpAddressLimitExceeded, "Number of private addresses will exceed limit.");
        var requested = vpc.Addressing.ValidateRequested(subnet,
            spec.PrivateIp is null ? spec.SecondaryPrivateIps : [spec.PrivateIp, .. spec.SecondaryPrivateIps]);
        var picked = vpc.Addressing.Allocate(subnet, total - requested.Count, requested);
        // The primary is the requested PrivateIpAddress when given, else a picked one.
        return spec.PrivateIp is null ? [.. picked.Take(1), .. requested, .. picked.Skip(1)] : [.. requested, .. picked];
    }

    public Task DeleteAsync(string networkInterfaceId, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            var eni = vpc.RequireEni(networkInterfaceId);
            if (eni.Attachment is not null)
                throw new Ec2Exception(InvalidNetworkInterfaceInUse, $"Network interface '{eni.Id}' is currently in use.");
            await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(eni.Id, null, cancellationToken));
            lock (vpc.Gate) vpc.RemoveEni(eni);
            return true;
        }, cancellationToken);

    public async Task<string> AttachAsync(string networkInterfaceId, string instanceId, int deviceIndex, TimeSpan attachLatency,
        CancellationToken cancellationToken)
    {
        var (attachmentId, eni) = await vpc.MutateAsync(() =>
            Task.FromResult(ReserveAttachment(networkInterfaceId, instanceId, deviceIndex)), cancellationToken).ConfigureAwait(false);
        // From here on the attach is accepted: like EC2 it completes (or fails) even when the
        // caller goes away, so the token no longer applies.
        if (attachLatency > TimeSpan.Zero)
            await Task.Delay(attachLatency, vpc.Time).ConfigureAwait(false);
        await vpc.MutateAsync(async () =>
        {
            if (eni.Attachment?.Id != attachmentId || !vpc.State.Enis.ContainsKey(eni.Id))
                throw new Ec2Exception(IncorrectState, $"The attachment '{attachmentId}' was removed before it completed.");
            try
            {
                await Ec2Vpc.Realize(() => vpc.Fabric.AttachAsync(Ec2Vpc.ToAttachment(eni), CancellationToken.None));
            }
            catch (Ec2Exception)
            {
                lock (vpc.Gate) eni.Attachment = null;
                vpc.Persist();
                throw;
            }
            lock (vpc.Gate) eni.Attachment!.Status = AttachmentState.Attached;
            return true;
        }, CancellationToken.None).ConfigureAwait(false);
        return attachmentId;
    }

    /// <summary>Checks an attach against EC2's rules and holds the device index with an attachment still attaching.</summary>
    private (string AttachmentId, EniRecord Eni) ReserveAttachment(string networkInterfaceId, string instanceId, int deviceIndex)
    {
        var eni = vpc.RequireEni(networkInterfaceId);
        var instance = vpc.RequireInstance(instanceId);
        var limits = vpc.TypeOf(instance);
        if (deviceIndex < 0)
            throw new Ec2Exception(InvalidParameterValue, $"Invalid value '{deviceIndex}' for deviceIndex.");
        if (eni.Attachment is not null)
            throw new Ec2Exception(InvalidNetworkInterfaceInUse, $"Interface: [{eni.Id}] in use.");
        if (vpc.State.Subnets[eni.SubnetId].AvailabilityZone != vpc.State.Subnets[instance.SubnetId].AvailabilityZone)
            throw new Ec2Exception(InvalidParameterCombination,
                $"You may not attach a network interface to an instance if they are not in the same availability zone");
        var attached = vpc.State.Enis.Values.Where(e => e.Attachment?.InstanceId == instance.Id).ToList();
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
            Id = vpc.Ids.NewId("eni-attach-"),
            InstanceId = instance.Id,
            DeviceIndex = deviceIndex,
            Status = AttachmentState.Attaching,
            DeleteOnTermination = false,
            AttachTime = vpc.Time.GetUtcNow(),
        };
        lock (vpc.Gate) eni.Attachment = attachment;
        return (attachment.Id, eni);
    }

    public Task DetachAsync(string attachmentId, bool force, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            if (string.IsNullOrEmpty(attachmentId))
                throw new Ec2Exception(MissingParameter, "The request must contain the parameter attachmentId");
            var eni = vpc.State.Enis.Values.FirstOrDefault(e => e.Attachment?.Id == attachmentId)
                ?? throw new Ec2Exception(InvalidAttachmentIdNotFound, $"The attachmentId '{attachmentId}' does not exist");
            var attachment = eni.Attachment!;
            if (attachment.DeviceIndex == 0)
                throw new Ec2Exception(OperationNotPermitted, "The network interface at device index 0 cannot be detached.");
            if (attachment.Status == AttachmentState.Attaching && !force)
                throw new Ec2Exception(IncorrectState, $"The attachment '{attachmentId}' is not in a valid state for this operation (attaching).");
            if (attachment.Status == AttachmentState.Attached)
                await Ec2Vpc.Realize(() => vpc.Fabric.DetachAsync(Ec2Vpc.ToAttachment(eni), cancellationToken));
            lock (vpc.Gate) eni.Attachment = null;
            return true;
        }, cancellationToken);

    /// <summary>
    /// AssignPrivateIpAddresses. With <paramref name="allowReassignment"/> a requested address that
    /// another ENI of the subnet holds as a secondary is taken off it in the same step (EC2's
    /// AllowReassignment: how a sticky shared pod's IP moves to another node, issue 11 §3), and one
    /// this ENI already holds is no error (a retried move); without it both are InvalidIPAddress.InUse,
    /// as before. Another ENI's primary address never moves (InvalidParameterValue).
    /// </summary>
    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpAddressesAsync(string networkInterfaceId, IReadOnlyList<IPAddress> addresses,
        int count, bool allowReassignment, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            var eni = vpc.RequireEni(networkInterfaceId);
            if (addresses.Count > 0 && count > 0)
                throw new Ec2Exception(InvalidParameterCombination, "The parameters 'privateIpAddress' and 'secondaryPrivateIpAddressCount' cannot be used together.");
            if (addresses.Count == 0 && count <= 0)
                throw new Ec2Exception(MissingParameter, "Either 'privateIpAddress' or 'secondaryPrivateIpAddressCount' must be specified.");
            var moving = allowReassignment ? Reassigned(eni, addresses) : [];
            var fresh = allowReassignment ? [.. addresses.Where(ip => !eni.SecondaryIps.Contains(ip) && !moving.Any(m => m.Ip.Equals(ip)))] : addresses;
            var limit = vpc.Options.MaxIpsPerUnattachedEni;
            if (eni.Attachment is { } a && vpc.State.Instances.TryGetValue(a.InstanceId, out var instance))
                limit = vpc.TypeOf(instance).Ipv4AddressesPerInterface;
            if (1 + eni.SecondaryIps.Count + fresh.Count + moving.Count + count > limit)
                throw new Ec2Exception(PrivateIpAddressLimitExceeded, "Number of private addresses will exceed limit.");
            var subnet = vpc.State.Subnets[eni.SubnetId];
            var requested = vpc.Addressing.ValidateRequested(subnet, fresh);
            List<IPAddress> added = [.. requested, .. vpc.Addressing.Allocate(subnet, count, requested)];
            // Off the old ENI first, then onto this one: the fabric maps each secondary IP to one ENI's MAC,
            // and the old ENI's change removes that mapping.
            foreach (var from in moving.GroupBy(m => m.From))
                await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(from.Key.Id,
                    Ec2Vpc.ToSnapshot(from.Key, [.. from.Key.SecondaryIps.Where(ip => !from.Any(m => m.Ip.Equals(ip)))]), cancellationToken));
            List<IPAddress> onto = [.. added, .. moving.Select(m => m.Ip)];
            await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(eni.Id, Ec2Vpc.ToSnapshot(eni, [.. eni.SecondaryIps, .. onto]), cancellationToken));
            lock (vpc.Gate)
            {
                foreach (var (ip, from) in moving) from.SecondaryIps.Remove(ip);
                eni.SecondaryIps.AddRange(onto);
                vpc.Addressing.Take(subnet.Id, added);
            }
            return (IReadOnlyList<IPAddress>)onto;
        }, cancellationToken);

    /// <summary>The requested addresses other ENIs of <paramref name="eni"/>'s subnet hold as secondaries, with their holder.</summary>
    private List<(IPAddress Ip, EniRecord From)> Reassigned(EniRecord eni, IReadOnlyList<IPAddress> addresses)
    {
        var moving = new List<(IPAddress, EniRecord)>();
        foreach (var ip in addresses.Distinct())
        {
            var holder = vpc.State.Enis.Values.FirstOrDefault(e => e.Id != eni.Id && e.SubnetId == eni.SubnetId
                && (e.PrivateIp.Equals(ip) || e.SecondaryIps.Contains(ip)));
            if (holder is null) continue;
            if (holder.PrivateIp.Equals(ip))
                throw new Ec2Exception(InvalidParameterValue, $"Address {ip} is the primary private IP address of network interface '{holder.Id}' and cannot be reassigned.");
            moving.Add((ip, holder));
        }
        return moving;
    }

    public Task UnassignPrivateIpAddressesAsync(string networkInterfaceId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken) =>
        vpc.MutateAsync(async () =>
        {
            var eni = vpc.RequireEni(networkInterfaceId);
            if (addresses.Count == 0)
                throw new Ec2Exception(MissingParameter, "The request must contain the parameter privateIpAddress");
            var removing = addresses.Distinct().ToList();
            if (removing.Contains(eni.PrivateIp))
                throw new Ec2Exception(InvalidParameterValue, $"The primary private IP address {eni.PrivateIp} of network interface '{eni.Id}' cannot be unassigned.");
            if (removing.Any(ip => !eni.SecondaryIps.Contains(ip)))
                throw new Ec2Exception(InvalidParameterValue, $"Some of the specified addresses are not assigned to interface {eni.Id}");
            await Ec2Vpc.Realize(() => vpc.Fabric.EniChangedAsync(eni.Id,
                Ec2Vpc.ToSnapshot(eni, [.. eni.SecondaryIps.Where(ip => !removing.Contains(ip))]), cancellationToken));
            lock (vpc.Gate)
            {
                eni.SecondaryIps.RemoveAll(removing.Contains);
                vpc.Addressing.Release(eni.SubnetId, removing);
            }
            return true;
        }, cancellationToken);

    public Task ModifyAttributeAsync(string networkInterfaceId, string? attachmentId, bool? deleteOnTermination,
        IReadOnlyList<string>? securityGroupIds, string? description, CancellationToken cancellationToken) =>
        vpc.MutateAsync(() =>
        {
            var eni = vpc.RequireEni(networkInterfaceId);
            if (attachmentId is null != deleteOnTermination is null)
                throw new Ec2Exception(MissingParameter, "Attachment.AttachmentId and Attachment.DeleteOnTermination must be given together.");
            if (attachmentId is null && deleteOnTermination is null && securityGroupIds is null && description is null)
                throw new Ec2Exception(MissingParameter, "The request must contain an attribute to modify.");
            if (attachmentId is not null && eni.Attachment?.Id != attachmentId)
                throw new Ec2Exception(InvalidAttachmentIdNotFound, $"The attachmentId '{attachmentId}' does not exist");
            var groups = securityGroupIds is null ? null : vpc.RequireGroups(securityGroupIds);
            if (groups is { Count: 0 })
                throw new Ec2Exception(InvalidParameterValue, "A network interface must have at least one security group.");
            lock (vpc.Gate)
            {
                if (deleteOnTermination is { } dot) eni.Attachment!.DeleteOnTermination = dot;
                if (groups is not null) eni.SecurityGroupIds = groups;
                if (description is not null) eni.Description = description;
            }
            return Task.FromResult(true);
        }, cancellationToken);
}
