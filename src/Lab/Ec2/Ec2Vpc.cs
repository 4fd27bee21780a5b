using System.Net;
using System.Text.Json;
using Fathom.Netlink;
using static Fathom.Lab.Ec2.Ec2ErrorCodes;

namespace Fathom.Lab.Ec2;

/// <summary>
/// What the parts of the emulated EC2 share: the VPC's records (<see cref="Ec2CloudState"/>), the
/// two locks that guard them, ids, addressing and the ec2.json record, plus the lookups that
/// answer EC2's NotFound/Malformed errors and the snapshots the outside world gets.
/// <see cref="Ec2Cloud"/> is its public face; <see cref="InstanceLifecycle"/> and
/// <see cref="EniLifecycle"/> are the writers.
/// </summary>
/// <remarks>
/// Locking: writers are serialized by an async mutex that they hold across their fabric call,
/// so the kernel sees changes in the order the state does; the records themselves change under
/// <see cref="Gate"/>, a plain lock that readers (Describe*, IMDS) take briefly.
/// </remarks>
internal sealed class Ec2Vpc
{
    private readonly SemaphoreSlim _mutex = new(1, 1);
    private readonly Dictionary<string, InstanceTypeLimits> _types;

    public Ec2Vpc(IVpcFabric fabric, Ec2CloudOptions options, TimeProvider time, Random random)
    {
        Fabric = fabric;
        Options = options;
        Time = time;
        _types = options.InstanceTypes.ToDictionary(t => t.Name, StringComparer.Ordinal);
        State = new Ec2CloudState { VpcCidr = options.VpcCidr.ToString() };
        Ids = new Ec2IdSource(random, State);
        Addressing = new SubnetAddressing(random);
        State.VpcId = options.VpcId ?? Ids.NewId("vpc-");
    }

    public IVpcFabric Fabric { get; }
    public Ec2CloudOptions Options { get; }
    public TimeProvider Time { get; }
    public Ec2CloudState State { get; }
    public Ec2IdSource Ids { get; }
    public SubnetAddressing Addressing { get; }

    /// <summary>Guards every change of a record and every read of them.</summary>
    public Lock Gate { get; } = new();

    public bool TryGetInstanceType(string name, out InstanceTypeLimits limits) => _types.TryGetValue(name, out limits!);

    public InstanceTypeLimits TypeOf(InstanceRecord instance) => _types[instance.InstanceType];

    // ---------------------------------------------------------------- writers

    /// <summary>Runs one writer that calls no fabric under the mutex (waiting for it, not for async work), and persists when it succeeded.</summary>
    public T Mutate<T>(Func<T> body)
    {
        _mutex.Wait();
        try
        {
            var result = body();
            Persist();
            return result;
        }
        finally
        {
            _mutex.Release();
        }
    }

    /// <summary>Runs one writer under the mutex and persists the state when it succeeded.</summary>
    public async Task<T> MutateAsync<T>(Func<Task<T>> body, CancellationToken cancellationToken)
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
    public static async Task Realize(Func<Task> call)
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

    /// <summary>Tells the fabric an ENI it was just told about is gone again, after a later step failed.</summary>
    public async Task UndoEniChanged(string eniId)
    {
        try { await Fabric.EniChangedAsync(eniId, null, CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is not OperationCanceledException) { /* already failing; the first error is the one to report */ }
    }

    /// <summary>Rewrites <see cref="Ec2CloudOptions.StatePath"/>, if any: a record to inspect, never read back.</summary>
    public void Persist()
    {
        if (Options.StatePath is not { } path) return;
        byte[] json;
        lock (Gate) json = JsonSerializer.SerializeToUtf8Bytes(State, Ec2CloudStateJson.Default.Ec2CloudState);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.Write(path, json);
    }

    /// <summary>Adds an ENI's record and takes its addresses (callers hold <see cref="Gate"/>).</summary>
    public void AddEni(EniRecord eni)
    {
        State.Enis[eni.Id] = eni;
        Addressing.Take(eni.SubnetId, eni.Addresses);
    }

    /// <summary>Removes an ENI's record and frees its addresses (callers hold <see cref="Gate"/>).</summary>
    public void RemoveEni(EniRecord eni)
    {
        State.Enis.Remove(eni.Id);
        Addressing.Release(eni.SubnetId, eni.Addresses);
    }

    /// <summary>The ENIs attached (or attaching) to an instance, by device index.</summary>
    public IEnumerable<EniRecord> EnisOf(string instanceId) =>
        State.Enis.Values.Where(e => e.Attachment?.InstanceId == instanceId).OrderBy(e => e.Attachment!.DeviceIndex);

    // ---------------------------------------------------------------- lookups that answer EC2's errors

    public EniRecord RequireEni(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new Ec2Exception(MissingParameter, "The request must contain the parameter networkInterfaceId");
        if (!Ec2Ids.IsWellFormed(id, "eni-"))
            throw new Ec2Exception(InvalidNetworkInterfaceIdMalformed, $"Invalid id: \"{id}\" (expecting \"eni-...\")");
        return State.Enis.TryGetValue(id, out var eni) ? eni
            : throw new Ec2Exception(InvalidNetworkInterfaceIdNotFound, $"The networkInterface ID '{id}' does not exist");
    }

    public InstanceRecord RequireInstance(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new Ec2Exception(MissingParameter, "The request must contain the parameter instanceId");
        if (!Ec2Ids.IsWellFormed(id, "i-"))
            throw new Ec2Exception(InvalidInstanceIdMalformed, $"Invalid id: \"{id}\"");
        return State.Instances.TryGetValue(id, out var instance) ? instance
            : throw new Ec2Exception(InvalidInstanceIdNotFound, $"The instance ID '{id}' does not exist");
    }

    public SubnetRecord RequireSubnet(string id)
    {
        if (string.IsNullOrEmpty(id)) throw new Ec2Exception(MissingParameter, "The request must contain the parameter subnetId");
        return State.Subnets.TryGetValue(id, out var subnet) ? subnet
            : throw new Ec2Exception(InvalidSubnetIdNotFound, $"The subnet ID '{id}' does not exist");
    }

    public List<string> RequireGroups(IReadOnlyList<string> ids)
    {
        foreach (var id in ids)
            if (!State.SecurityGroups.ContainsKey(id))
                throw new Ec2Exception(InvalidGroupNotFound, $"The security group '{id}' does not exist in VPC '{State.VpcId}'");
        return [.. ids.Distinct()];
    }

    /// <summary>The tags of an ENI, instance, subnet or security group, by its id.</summary>
    public Dictionary<string, string> RequireTaggable(string id)
    {
        if (id.StartsWith("eni-", StringComparison.Ordinal)) return RequireEni(id).Tags;
        if (id.StartsWith("i-", StringComparison.Ordinal)) return RequireInstance(id).Tags;
        if (id.StartsWith("subnet-", StringComparison.Ordinal)) return RequireSubnet(id).Tags;
        if (id.StartsWith("sg-", StringComparison.Ordinal))
            return State.SecurityGroups.TryGetValue(id, out var g) ? g.Tags
                : throw new Ec2Exception(InvalidGroupNotFound, $"The security group '{id}' does not exist");
        throw new Ec2Exception(InvalidId, $"The ID '{id}' is not valid");
    }

    // ---------------------------------------------------------------- snapshots (callers hold Gate or the mutex)

    public Subnet ToSubnet(SubnetRecord r) =>
        new(r.Id, State.VpcId, r.Cidr, r.AvailabilityZone, SubnetAddressing.Gateway(r.Cidr), Addressing.Available(r),
            new Dictionary<string, string>(r.Tags));

    public SecurityGroup ToGroup(SecurityGroupRecord r) => new(r.Id, r.Name, r.Description, State.VpcId, new Dictionary<string, string>(r.Tags));

    public Instance ToInstance(InstanceRecord r)
    {
        var primary = State.Enis.GetValueOrDefault(r.PrimaryEniId);
        return new Instance(r.Id, r.InstanceType, r.NodeName, r.SubnetId, State.Subnets[r.SubnetId].AvailabilityZone,
            primary?.PrivateIp ?? IPAddress.Any, r.PrimaryEniId, primary is null ? "" : InterfaceNames.FormatMac(primary.MacAddress),
            "running", r.LaunchTime, [.. primary?.SecurityGroupIds ?? []], new Dictionary<string, string>(r.Tags));
    }

    public NetworkInterface ToEni(EniRecord r)
    {
        var a = r.Attachment;
        return new NetworkInterface(r.Id, r.SubnetId, State.VpcId, State.Subnets[r.SubnetId].AvailabilityZone,
            InterfaceNames.FormatMac(r.MacAddress), r.Description, r.PrivateIp, [.. r.SecondaryIps], [.. r.SecurityGroupIds],
            new Dictionary<string, string>(r.Tags), a is null ? "available" : "in-use",
            a is null ? null : new NetworkInterfaceAttachment(a.Id, a.InstanceId, a.DeviceIndex, a.Status, a.DeleteOnTermination, a.AttachTime));
    }

    /// <summary>The ENI's addressing as the fabric gets it; <paramref name="secondaries"/> replaces the current ones (a change about to be applied).</summary>
    public static EniSnapshot ToSnapshot(EniRecord r, IReadOnlyList<IPAddress>? secondaries = null) =>
        new(r.Id, r.MacAddress, r.SubnetId, r.PrivateIp, [.. secondaries ?? r.SecondaryIps]);

    public static EniAttachment ToAttachment(EniRecord r) =>
        new(r.Id, r.Attachment!.InstanceId, r.Attachment.DeviceIndex, r.MacAddress, r.SubnetId, r.PrivateIp);
}
