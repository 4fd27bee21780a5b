using System.Net;
using System.Net.NetworkInformation;
using Fathom.Netlink;

namespace Fathom.Cloud.Host;

/// <summary>Where and how a <see cref="HostNicProvider"/> runs.</summary>
public sealed record HostNicOptions
{
    /// <summary>The file that keeps which NICs the pool holds (the agent's: <c>&lt;stateDir&gt;/host-nics.json</c>).</summary>
    public required string StatePath { get; init; }

    /// <summary>dhclient's config, script and lease files (the agent's: <c>&lt;stateDir&gt;/dhcp</c>).</summary>
    public required string DhcpDirectory { get; init; }

    /// <summary>The node's name: the instance id the pools log (<c>host/&lt;name&gt;</c>).</summary>
    public string NodeName { get; init; } = Environment.MachineName;

    /// <summary>The node's namespace; null: the calling thread's when the provider is made (the agent's).</summary>
    public NetnsHandle? Netns { get; init; }

    /// <summary>Where the provider says what it did (a NIC taken, gone, unusable); null: nowhere.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// The <c>host</c> provider (DESIGN.md §5): NICs someone else attached to the node — a hypervisor's
/// hot-add, as the seed does in vSphere, or SR-IOV VFs — pooled as if they were ENIs, with no cloud
/// API at all. The pools' ENI lifecycle maps onto taking and giving back node devices:
/// <list type="bullet">
/// <item>create = take a present NIC that matches the selector and is not the pool's yet, with its
/// address from config or a DHCP lease; attach = count it as the pool's; detach and delete = give it
/// back (it stays on the node, free to be taken again);</item>
/// <item>describe-by-instance = the NICs the pool holds: those in the node's namespace, and those out
/// of it that <see cref="HeldElsewhere"/> says a pod holds; one that vanished otherwise (unplugged)
/// is dropped;</item>
/// <item>assign = hand out a NIC's configured secondary addresses (shared mode), none otherwise, and
/// make the node answer ARP for them on the NIC (a hypervisor's network is a plain L2 segment: unlike
/// a VPC, it learns who holds an address only from ARP).</item>
/// </list>
/// A <see cref="LinkWatcher"/> reports NICs plugged and unplugged; <see cref="NicsChanged"/> tells the
/// agent, which reconciles at once: a NIC added later joins the pool without a restart.
/// </summary>
public sealed partial class HostNicProvider : ICloudProvider, IDisposable
{
    /// <summary>The instance type the host provider reports.</summary>
    public const string InstanceType = "host";

    /// <summary>The id of the node's own (primary) interface, which the host provider never lists: every pooled NIC can go whole to a pod.</summary>
    public const string PrimaryEniId = "nic-primary";

    private const int MaxNics = 64;

    private readonly HostNicConfig _config;
    private readonly HostNicOptions _options;
    private readonly NicSelector _selector;
    private readonly NetnsHandle _netns;
    private readonly bool _ownsNetns;
    private readonly Dhclient _dhcp;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, NicClaim> _claims = new(StringComparer.Ordinal);
    private readonly HashSet<string> _warnedUnaddressed = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private Thread? _watcher;

    /// <summary>A provider over a valid <paramref name="config"/>; loads what the pool held before a restart.</summary>
    /// <exception cref="ArgumentException">The config is not valid (<see cref="HostNicConfig.Validate"/>).</exception>
    /// <exception cref="CloudException">Invalid: the claims file cannot be read.</exception>
    public HostNicProvider(HostNicConfig config, HostNicOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        if (config.Validate() is { } error) throw new ArgumentException(error, nameof(config));
        _config = config;
        _options = options;
        _selector = new NicSelector(config);
        _dhcp = new Dhclient(options.DhcpDirectory, TimeSpan.FromSeconds(config.DhcpTimeoutSeconds));
        foreach (var claim in NicClaimsFile.Load(options.StatePath)) _claims[claim.EniId] = claim;
        _ownsNetns = options.Netns is null;
        _netns = options.Netns ?? Fathom.Netlink.Netns.OpenCurrent();
    }

    /// <summary>
    /// Whether a pod holds the NIC with this id (an underlay allocation, or its return still pending):
    /// then its absence from the node's namespace is expected. Null — until the agent's state is open —
    /// counts every absent NIC as held, so a restart never drops a NIC a pod has.
    /// </summary>
    public Func<string, bool>? HeldElsewhere { get; set; }

    /// <summary>Raised (on the watcher's thread) when a NIC the selector matches appears, changes or vanishes.</summary>
    public event Action? NicsChanged;

    /// <summary>The id a host NIC has in the pools: <c>nic-</c> and its MAC (stable for the NIC's life).</summary>
    public static string EniIdOf(PhysicalAddress mac) => "nic-" + Convert.ToHexStringLower(mac.GetAddressBytes());

    /// <summary>Starts watching the node's links (hot-plug). Idempotent.</summary>
    public void StartWatching()
    {
        lock (_gate)
        {
            if (_watcher is not null) return;
            var watcher = LinkWatcher.Open(_netns);
            _watcher = new Thread(() => Watch(watcher, _stop.Token)) { IsBackground = true, Name = "fathom-host-nics" };
            _watcher.Start();
        }
    }

    /// <inheritdoc />
    public Task<InstanceIdentity> DescribeSelfAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(new InstanceIdentity($"host/{_options.NodeName}", InstanceType, "", "", PrimaryEniId, PhysicalAddress.None,
            "", new IPNetwork(IPAddress.Any, 0), [], "", []));

    /// <inheritdoc />
    public Task<IReadOnlyList<PhysicalAddress>> DescribeLocalMacsAsync(CancellationToken cancellationToken = default)
    {
        var present = Present();
        lock (_gate)
            return Task.FromResult<IReadOnlyList<PhysicalAddress>>(
                [.. _claims.Values.Where(c => c.Attached && present.ContainsKey(c.Mac)).Select(c => NicSelector.ParseMac(c.Mac))]);
    }

    /// <summary>
    /// The "instance type": as many NICs as the selector can name (64 for a pattern), the node's own
    /// counted as the primary; addresses per NIC: its primary plus the most secondary addresses any NIC is given.
    /// </summary>
    public Task<InstanceLimits> GetInstanceLimitsAsync(string instanceType, CancellationToken cancellationToken = default)
    {
        if (instanceType != InstanceType)
            throw new CloudException(CloudErrorKind.Invalid, "InvalidInstanceType", $"the host provider has no instance type '{instanceType}'");
        var nics = Math.Min(MaxNics - 1, _selector.Count ?? MaxNics - 1);
        var secondary = _config.Nics.Count == 0 ? 0 : _config.Nics.Max(n => n.SecondaryAddresses.Count);
        return Task.FromResult(new InstanceLimits(InstanceType, nics + 1, 1 + secondary));
    }

    /// <inheritdoc />
    public Task<SubnetInfo> DescribeSubnetAsync(string subnetId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
            if (_claims.Values.FirstOrDefault(c => c.Subnet == subnetId) is { } claim)
                return Task.FromResult(new SubnetInfo(subnetId, IPNetwork.Parse(claim.Subnet), "", 0));
        throw new CloudException(CloudErrorKind.NotFound, "InvalidSubnetID.NotFound", $"no host NIC of the pool is in {subnetId}");
    }

    /// <summary>Takes a free NIC that matches the selector, with its address (static, or leased now by DHCP).</summary>
    /// <exception cref="CloudException">LimitExceeded when no NIC is free; Transient when DHCP gave no lease.</exception>
    public Task<Eni> CreateEniAsync(CreateEniRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.Run(() => Take(request), cancellationToken);
    }

    /// <inheritdoc />
    public Task<string> AttachEniAsync(string eniId, string instanceId, int deviceIndex, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var claim = Require(eniId);
            claim.Attached = true;
            claim.DeviceIndex = deviceIndex;
            Save();
            return Task.FromResult(AttachmentIdOf(eniId));
        }
    }

    /// <summary>Gives the NIC back: it stays on the node, free to be taken again.</summary>
    public Task DetachEniAsync(string attachmentId, bool force = false, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var claim = _claims.Values.FirstOrDefault(c => AttachmentIdOf(c.EniId) == attachmentId)
                ?? throw new CloudException(CloudErrorKind.NotFound, "InvalidAttachmentID.NotFound", $"no host NIC has the attachment {attachmentId}");
            claim.Attached = false;
            Save();
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task DeleteEniAsync(string eniId, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var claim = Require(eniId);
            ProxyArp(claim, claim.Assigned, answer: false);
            _claims.Remove(eniId);
            Save();
        }
        Log($"{eniId} given back to the node");
        return Task.CompletedTask;
    }

    /// <summary>Hands out the NIC's configured secondary addresses not yet handed out.</summary>
    public Task<IReadOnlyList<IPAddress>> AssignPrivateIpsAsync(string eniId, int count, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var claim = Require(eniId);
            var free = claim.SecondaryPool.Where(a => !claim.Assigned.Contains(a)).Take(count).ToList();
            if (free.Count == 0)
                throw new CloudException(CloudErrorKind.LimitExceeded, "HostNicAddressLimit",
                    $"{claim.Name} has no secondary address left in cloud.host.nics ({claim.SecondaryPool.Count} configured)");
            ProxyArp(claim, free, answer: true);
            claim.Assigned.AddRange(free);
            Save();
            return Task.FromResult<IReadOnlyList<IPAddress>>([.. free.Select(IPAddress.Parse)]);
        }
    }

    /// <inheritdoc />
    public Task UnassignPrivateIpsAsync(string eniId, IReadOnlyList<IPAddress> addresses, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        lock (_gate)
        {
            var claim = Require(eniId);
            var given = addresses.Select(a => a.ToString()).Where(claim.Assigned.Contains).ToList();
            ProxyArp(claim, given, answer: false);
            foreach (var address in given) claim.Assigned.Remove(address);
            Save();
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<Eni>> DescribeEnisAsync(EniQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var present = Present();
        lock (_gate)
        {
            DropVanished(present);
            foreach (var id in query.EniIds ?? [])
                if (!_claims.ContainsKey(id))
                    throw new CloudException(CloudErrorKind.NotFound, "InvalidNetworkInterfaceID.NotFound", $"the host NIC '{id}' is not the pool's");
            var instanceId = $"host/{_options.NodeName}";
            return Task.FromResult<IReadOnlyList<Eni>>([.. _claims.Values
                .Where(c => query.EniIds is null || query.EniIds.Contains(c.EniId))
                .Where(c => query.AttachedInstanceId is null || (c.Attached && query.AttachedInstanceId == instanceId))
                .Where(c => query.Tags is null || query.Tags.All(t => c.Tags.TryGetValue(t.Key, out var v) && v == t.Value))
                .Where(c => query.TagKeys is null || query.TagKeys.All(c.Tags.ContainsKey))
                .Select(c => ToEni(c, instanceId))
                .OrderBy(e => e.EniId, StringComparer.Ordinal)]);
        }
    }

    /// <inheritdoc />
    /// <remarks>Not supported: a host NIC cannot move to another node, so sticky ENIs (the one user of tags on an existing ENI) do not apply; the agent's config refuses <c>pools.sticky</c> with this provider.</remarks>
    public Task CreateTagsAsync(string eniId, IReadOnlyDictionary<string, string> tags, CancellationToken cancellationToken = default) =>
        Task.FromException(Unsupported("CreateTags"));

    /// <inheritdoc />
    /// <remarks>Not supported, as <see cref="CreateTagsAsync"/>.</remarks>
    public Task DeleteTagsAsync(string eniId, IReadOnlyList<string> keys, CancellationToken cancellationToken = default) =>
        Task.FromException(Unsupported("DeleteTags"));

    /// <inheritdoc />
    /// <remarks>Not supported: a host NIC's addresses come from config or DHCP, not from a cloud that can move them between nodes.</remarks>
    public Task ReassignPrivateIpAsync(string eniId, IPAddress address, CancellationToken cancellationToken = default) =>
        Task.FromException(new CloudException(CloudErrorKind.Invalid, "UnsupportedOperation",
            $"moving {address} to {eniId}: the host provider cannot move an address between nodes (its NICs' addresses come from config or DHCP), so sticky shared pods do not apply"));

    private static CloudException Unsupported(string action) =>
        new(CloudErrorKind.Invalid, "UnsupportedOperation",
            $"{action}: the host provider keeps its NICs' tags fixed (they never move to another node, so sticky ENIs do not apply)");

    /// <summary>Stops watching.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _watcher?.Join(TimeSpan.FromSeconds(5));
        _stop.Dispose();
        if (_ownsNetns) _netns.Dispose();
    }

    private static string AttachmentIdOf(string eniId) => "attach-" + eniId;

    private NicClaim Require(string eniId) =>
        _claims.TryGetValue(eniId, out var claim)
            ? claim
            : throw new CloudException(CloudErrorKind.NotFound, "InvalidNetworkInterfaceID.NotFound", $"the host NIC '{eniId}' is not the pool's");

    private void Save() => NicClaimsFile.Save(_options.StatePath, _claims.Values.OrderBy(c => c.EniId, StringComparer.Ordinal));

    private void Log(string message) => _options.Log?.Invoke(message);

    private Eni ToEni(NicClaim c, string instanceId) => new(
        c.EniId, NicSelector.ParseMac(c.Mac), IPAddress.Parse(c.Address), [.. c.Assigned.Select(IPAddress.Parse)], c.Subnet,
        IPNetwork.Parse(c.Subnet), [], c.Attached ? EniAttachmentState.Attached : EniAttachmentState.Detached,
        c.Attached ? AttachmentIdOf(c.EniId) : null, c.Attached ? instanceId : null, c.Attached ? c.DeviceIndex : null,
        $"host NIC {c.Name}", c.Tags)
    {
        Gateway = IPAddress.Parse(c.Gateway),
    };
}
