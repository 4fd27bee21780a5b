using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Cni;
using Fathom.Datapath;
using Fathom.Datapath.HostGw;
using Fathom.Datastore;
using Fathom.Datastore.Configuration;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>One subnet mode as the node runs it: what has to go when the mode goes.</summary>
/// <param name="Mode">host-gw or overlay.</param>
/// <param name="ClusterCidr">The mode's cluster CIDR (its <see cref="ClusterRule"/>, its NAT table's source).</param>
/// <param name="Device">Overlay: the VXLAN device.</param>
/// <param name="Lease">Where the mode's lease is held (absent in records of agents before it was recorded).</param>
public sealed record RunModeRecord(string Mode, string ClusterCidr, string? Device = null, RunModeLease? Lease = null);

/// <summary>
/// Where a mode's lease is held and by whom: enough of its datastore's config to open the store again
/// and give the lease up once the mode is gone. Strings only, so that two records compare by value.
/// </summary>
/// <param name="Node">The node name the lease is held under.</param>
/// <param name="Kind"><c>embedded</c> or <c>etcd</c>.</param>
/// <param name="SubnetLength">Each node's subnet prefix length (the store is opened with it).</param>
/// <param name="Directory">embedded: the store's directory.</param>
/// <param name="Endpoints">etcd: the members' client URLs, comma-separated.</param>
/// <param name="Cluster">etcd: the cluster name its keys live under.</param>
public sealed record RunModeLease(string Node, string Kind, int SubnetLength, string? Directory = null, string? Endpoints = null, string? Cluster = null)
{
    internal static RunModeLease Of(string node, SubnetDatastoreConfig datastore) => datastore.Kind == DatastoreOptions.Etcd
        ? new(node, datastore.Kind, datastore.SubnetLength, Endpoints: string.Join(',', datastore.Endpoints), Cluster: datastore.Cluster)
        : new(node, datastore.Kind, datastore.SubnetLength, Directory: datastore.Directory);

    /// <summary>The datastore config this lease lives in, for a mode of <paramref name="clusterCidr"/>.</summary>
    internal SubnetDatastoreConfig Datastore(string clusterCidr, TimeSpan requestTimeout)
    {
        var datastore = new SubnetDatastoreConfig { Kind = Kind, ClusterCidr = clusterCidr, SubnetLength = SubnetLength, RequestTimeoutSeconds = requestTimeout.TotalSeconds };
        if (Directory is not null) datastore.Directory = Directory;
        if (Endpoints is not null) datastore.Endpoints = Endpoints.Split(',');
        if (Cluster is not null) datastore.Cluster = Cluster;
        return datastore;
    }
}

/// <summary>The record on disk (<c>subnets/modes.json</c>): the modes the node runs.</summary>
public sealed record RunModesFile(IReadOnlyList<RunModeRecord> Modes)
{
    /// <summary>The file's <c>kind</c>.</summary>
    public const string FileKind = "fathom-agent-subnet-modes";

    /// <summary>The format this agent writes and reads.</summary>
    public const int FormatVersion = 1;

    /// <summary>What the file is (read first, <see cref="StateDirectory"/>).</summary>
    public string Kind { get; init; } = FileKind;

    /// <summary>Its format.</summary>
    public int Version { get; init; } = FormatVersion;
}

/// <summary>
/// Takes off the node what a subnet mode no longer in the config left there (docs/agent.md,
/// "Removing a mode"): the agent records, in <c>subnets/modes.json</c>, which modes it runs and with
/// what cluster CIDR and VXLAN device, before it programs anything; at the next start, whatever that
/// record has and the config no longer does is removed — host-gw's routes to the other nodes (protocol
/// <see cref="FathomRoutes.Protocol"/>), the mode's lease (so that the other nodes drop their routes to
/// its subnet at once, not when it expires), overlay's VXLAN device (with its routes, neighbours and FDB
/// entries), the mode's outgoing NAT table, its tc BPF program on the node's own devices
/// (<see cref="PodRedirect"/>), the <see cref="ClusterRule"/> of a cluster CIDR no mode has any more,
/// and, once no subnet mode is left, the node's pinned neighbours (marked with the same protocol).
/// Nothing is removed that the record does not name or the marks do not show, so an agent that never
/// ran a subnet mode touches nothing. Pods still holding addresses of a removed mode keep their veths
/// and are named in a warning: they reach only their own node from then on.
/// </summary>
public static class RetiredModes
{
    private const string RecordName = "modes.json";

    // How long a start waits for a retired mode's store to give its lease up, one request at most half of it.
    private static readonly TimeSpan GiveUpBound = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Removes what the modes recorded before and not in <paramref name="config"/> left, and records the
    /// modes of <paramref name="config"/>. A removal that fails is logged and stays in the record, so the
    /// next start tries again; it never stops the agent.
    /// </summary>
    /// <param name="config">The <c>subnets</c> section, or null when the config has none.</param>
    /// <param name="state">The agent's state (the record and the modes' pod addresses).</param>
    /// <param name="log">Where what was removed is said.</param>
    /// <param name="open">Opens a netlink handle in the node's netns.</param>
    /// <param name="netnsPath">The node's netns for nft (tests); null: the agent's own.</param>
    /// <param name="nodeName">The name the modes' leases are held under when the config names none (the pools' node name); null: the machine's.</param>
    /// <returns>What was removed, one phrase each (empty when nothing was).</returns>
    public static IReadOnlyList<string> Retire(SubnetConfig? config, StateDirectory state, AgentLog log, Func<NetlinkHandle> open, string? netnsPath = null,
        string? nodeName = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(open);
        var path = Path.Combine(state.Path, "subnets", RecordName);
        var before = Read(state, path);
        var now = Running(config, config?.NodeName ?? nodeName ?? Environment.MachineName);
        if (before.Count == 0 && now.Count == 0) return [];
        var removed = new List<string>();
        var kept = new List<RunModeRecord>();
        // A record written before leases were recorded names a mode still run the same way, lease aside.
        var gone = before.Where(b => !now.Contains(b) && !(b.Lease is null && now.Any(n => n with { Lease = null } == b))).ToList();
        if (gone.Count > 0)
        {
            using var host = open();
            foreach (var old in gone)
            {
                try
                {
                    removed.AddRange(Remove(host, old, now, state, log, netnsPath));
                }
                catch (Exception e) when (e is NetlinkException or CniException or IOException or FormatException)
                {
                    kept.Add(old);
                    log.Warning("subnets.retire-failed", $"could not remove what the {old.Mode} mode left on the node: {e.Message}; the next start tries again",
                        ("mode", old.Mode), ("error", e.Message));
                }
            }
            if (now.Count == 0 && kept.Count == 0)
                removed.AddRange(Unpin(host));
        }
        if (removed.Count > 0)
            log.Info("subnets.retired", $"removed what subnet modes no longer in the config left: {string.Join("; ", removed)}", ("removed", removed.Count));
        List<RunModeRecord> record = [.. now, .. kept.Where(k => !now.Any(n => n.Mode == k.Mode))];
        if (record.SequenceEqual(before)) return removed;
        try
        {
            state.WriteAtomically(Path.Combine(state.Subdirectory("subnets"), RecordName),
                JsonSerializer.SerializeToUtf8Bytes(new RunModesFile(record), RetiredModesJson.Default.RunModesFile));
        }
        catch (IOException e)
        {
            log.Warning("subnets.record-failed", $"could not record the subnet modes the node runs: {e.Message}; a mode dropped from the config later is not taken off the node",
                ("error", e.Message));
        }
        return removed;
    }

    /// <summary>The modes <paramref name="config"/> runs, as the record has them, their leases held as <paramref name="node"/>.</summary>
    internal static List<RunModeRecord> Running(SubnetConfig? config, string node)
    {
        var modes = new List<RunModeRecord>();
        if (config?.HostGw is { } hostGw)
            modes.Add(new RunModeRecord(Allocation.ModeName(AllocationMode.HostGw), hostGw.Datastore.ClusterCidr, Lease: RunModeLease.Of(node, hostGw.Datastore)));
        if (config?.Overlay is { } overlay)
            modes.Add(new RunModeRecord(Allocation.ModeName(AllocationMode.Overlay), overlay.Datastore.ClusterCidr, overlay.EffectiveDevice,
                RunModeLease.Of(node, overlay.Datastore)));
        return modes;
    }

    private static List<string> Remove(NetlinkHandle host, RunModeRecord old, List<RunModeRecord> now, StateDirectory state, AgentLog log, string? netnsPath)
    {
        var removed = new List<string>();
        var mode = old.Mode == Allocation.ModeName(AllocationMode.HostGw) ? AllocationMode.HostGw
            : old.Mode == Allocation.ModeName(AllocationMode.Overlay) ? AllocationMode.Overlay
            : throw new IOException($"the record names an unknown mode '{old.Mode}'");
        var cidr = IpPrefix.Parse(old.ClusterCidr);
        var current = now.FirstOrDefault(n => n.Mode == old.Mode);
        if (current is null)
        {
            if (mode == AllocationMode.HostGw)
            {
                var routes = HostGwRoutes.Reconcile(host, []).Removed;
                if (routes > 0) removed.Add($"{routes} host-gw route(s)");
            }
            var nat = new SubnetMasquerade(mode, cidr, [], enabled: false, netnsPath);
            if (nat.Delete())
                removed.Add($"the table ip {nat.Table}");
            removed.AddRange(Unredirect(host, mode));
            WarnAboutPods(mode, state, log);
        }
        // The lease goes when the mode does, or when it is held elsewhere now (another store, cluster CIDR or node name).
        if (old.Lease is { } lease && (current is null || current.Lease != lease || current.ClusterCidr != old.ClusterCidr)
            && GiveUp(old.Mode, lease, lease.Datastore(old.ClusterCidr, GiveUpBound / 2), log) is { } released)
            removed.Add(released);
        if (old.Device is { } device && device != current?.Device && host.TryGetLink(device, out var vtep) && vtep.Kind == "vxlan")
        {
            KernelCall.Run($"delete {device}, the overlay's old VXLAN device", () => host.DeleteLink(vtep.Index));
            removed.Add($"the VXLAN device {device}");
        }
        if (!now.Any(n => n.ClusterCidr == old.ClusterCidr) && ClusterRule.Remove(host, cidr))
            removed.Add($"the rule pref {ClusterRule.Priority} to {cidr}");
        return removed;
    }

    // Gives the lease up in its store, within GiveUpBound (the agent's start waits for it); a store that
    // cannot be reached is said and left alone: the lease expires after its TTL, and the other nodes drop
    // their routes to its subnet then.
    private static string? GiveUp(string mode, RunModeLease lease, SubnetDatastoreConfig datastore, AgentLog log)
    {
        try
        {
            using var bound = new CancellationTokenSource(GiveUpBound);
            var released = Task.Run(async () =>
            {
                await using var store = await datastore.ToOptions().OpenAsync(cancellationToken: bound.Token).ConfigureAwait(false);
                return await store.ReleaseAsync(lease.Node, bound.Token).ConfigureAwait(false);
            }).GetAwaiter().GetResult();
            return released ? $"the {mode} lease of {lease.Node} in the {datastore.Describe()}" : null;
        }
        catch (Exception e) when (e is DatastoreUnavailableException or DatastoreConfigurationException or IOException or HttpRequestException
            or TimeoutException or OperationCanceledException or UnauthorizedAccessException or ArgumentException)
        {
            log.Warning("subnets.lease-not-released",
                $"could not give up the {mode} lease of {lease.Node} in the {datastore.Describe()}: {e.Message}; the other nodes drop their routes to its subnet when it expires",
                ("mode", mode), ("error", e.Message));
            return null;
        }
    }

    // redirect: bpf's program on the node's own devices (host-gw's to_pod, overlay's from_vxlan: the
    // fabric device; overlay's to_pod went with its VXLAN device). Pod veths are not looked at: a pod's
    // program goes with its veth.
    private static List<string> Unredirect(NetlinkHandle host, AllocationMode mode)
    {
        var (name, priority) = mode == AllocationMode.HostGw
            ? (PodRedirect.ToPodName, PodRedirect.Priority)
            : (PodRedirect.FromVxlanName, PodRedirect.VxlanPriority);
        var removed = new List<string>();
        foreach (var link in host.ListLinks().Where(l => l.Kind != "vxlan" && !l.Name.StartsWith("fth", StringComparison.Ordinal)))
        {
            if (!PodRedirect.IsAttached(host, link.Index, name)) continue;
            PodRedirect.Detach(host, link.Index, priority);
            removed.Add($"the tc program {name} on {link.Name}");
        }
        return removed;
    }

    // The neighbours host-gw and overlay pinned (HostGwRoutes.PinNeighbours marks them).
    private static List<string> Unpin(NetlinkHandle host)
    {
        var removed = new List<string>();
        foreach (var pin in HostGwRoutes.Pins(host))
        {
            try
            {
                host.DeleteNeighbor(pin);
                removed.Add($"the pinned neighbour {pin.Ip}");
            }
            catch (NetlinkException e) when (e.IsNotFound)
            {
            }
        }
        return removed;
    }

    private static void WarnAboutPods(AllocationMode mode, StateDirectory state, AgentLog log)
    {
        var name = Allocation.ModeName(mode);
        var pods = PodSubnetIpam.Open(state, name).All().Where(p => !p.Releasing).ToList();
        if (pods.Count == 0) return;
        log.Warning("subnets.retired-with-pods",
            $"{pods.Count} {name} pod(s) still hold addresses of the node's {name} subnet, which the node no longer routes: they reach only this node; delete them (their DELs succeed). Pods: {string.Join(", ", pods.Take(10).Select(p => $"{p.ContainerId}/{p.IfName} {p.Ip}"))}{(pods.Count > 10 ? ", …" : "")}",
            ("mode", name), ("pods", pods.Count));
    }

    private static List<RunModeRecord> Read(StateDirectory state, string path)
    {
        if (!File.Exists(path)) return [];
        const string Consequence = "modes removed from the config before this start are not taken off the node";
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (StateDirectory.CheckHeader(bytes, RunModesFile.FileKind, RunModesFile.FormatVersion) is { } problem)
            {
                state.Quarantine(path, $"{problem}; {Consequence}");
                return [];
            }
            return [.. JsonSerializer.Deserialize(bytes, RetiredModesJson.Default.RunModesFile)?.Modes ?? []];
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            state.Quarantine(path, $"not a valid record of the subnet modes: {e.Message}; {Consequence}");
            return [];
        }
    }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunModesFile))]
internal sealed partial class RetiredModesJson : JsonSerializerContext;
