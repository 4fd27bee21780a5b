using System.Globalization;
using System.Text;
using Fathom.Agent.Metrics;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// The node's subnet modes (host-gw, overlay) as the agent runs them: started from the config's
/// <c>subnets</c> section, served on the plugin's socket in front of the pools
/// (<see cref="Serve"/>), rendered in the metrics, stopped with the agent.
/// </summary>
public sealed class SubnetModes : IAsyncDisposable
{
    private SubnetModes(IReadOnlyDictionary<AllocationMode, SubnetNetwork> networks) => Networks = networks;

    /// <summary>The running modes.</summary>
    public IReadOnlyDictionary<AllocationMode, SubnetNetwork> Networks { get; }

    /// <summary>
    /// Starts the modes <paramref name="config"/> names, in the agent's own netns: IP forwarding on
    /// (pods' traffic is routed through the node), the fabric resolved, each mode's lease taken in
    /// the background. Before that, what modes dropped from the config since the last start left on the
    /// node is removed (<see cref="RetiredModes"/>). Null when the config has no <c>subnets</c> section.
    /// </summary>
    public static SubnetModes? Start(SubnetConfig? config, StateDirectory state, string? poolsNodeName, AgentLog log, TimeProvider? time = null,
        NetnsHandle? node = null)
    {
        Func<NetlinkHandle> open = node is null ? NetlinkHandle.Open : () => NetlinkHandle.OpenIn(node);
        // What a mode dropped from the config left goes before anything is programmed (and the modes run are recorded).
        RetiredModes.Retire(config, state, log, open, node?.Path, poolsNodeName);
        if (config is null) return null;
        using (var current = node is null ? Netns.OpenCurrent() : null)
            Netns.WriteSysctl(node ?? current!, "net.ipv4.ip_forward", "1");
        NodeFabric fabric;
        using (var handle = open())
            fabric = NodeFabric.Resolve(handle, config.NodeName ?? poolsNodeName ?? Environment.MachineName, config.FabricDevice, config.NodeIp);
        var interval = TimeSpan.FromSeconds(config.ReconcileSeconds);
        Func<LinkWatcher> watch = () => LinkWatcher.Open(node);
        // Pod to pod within and across the node's subnet modes keeps its addresses; anything else is NATed (SubnetMasquerade).
        IpPrefix[] clusters = [.. config.ClusterCidrs.Select(IpPrefix.Parse)];
        SubnetMasquerade Masquerade(AllocationMode mode, SubnetDatastoreConfig datastore, bool on) =>
            new(mode, IpPrefix.Parse(datastore.ClusterCidr), clusters, on, node?.Path);
        var networks = new Dictionary<AllocationMode, SubnetNetwork>();
        var pins = new NeighbourPins(config.ClusterCidrs.Count);
        if (config.HostGw is { } hostGw)
            networks[AllocationMode.HostGw] = SubnetNetwork.Start(
                new SubnetModeSettings(AllocationMode.HostGw, hostGw.Datastore, fabric, null, interval, open, hostGw.Redirect == HostGwSection.RedirectBpf, watch,
                    Masquerade(AllocationMode.HostGw, hostGw.Datastore, hostGw.Masquerade), pins),
                PodSubnetIpam.Open(state, "host-gw"), log, time);
        if (config.Overlay is { } overlay)
            networks[AllocationMode.Overlay] = SubnetNetwork.Start(
                new SubnetModeSettings(AllocationMode.Overlay, overlay.Datastore, fabric, overlay, interval, open, overlay.Redirect == HostGwSection.RedirectBpf, watch,
                    Masquerade(AllocationMode.Overlay, overlay.Datastore, overlay.Masquerade), pins),
                PodSubnetIpam.Open(state, "overlay"), log, time);
        log.Info("subnets.started", $"subnet modes {string.Join(", ", networks.Keys.Select(Allocation.ModeName))} for node {fabric.NodeName} ({fabric.NodeIp} on {fabric.DeviceName}, MTU {fabric.Mtu})");
        return new SubnetModes(networks);
    }

    /// <summary>The plugin's service: subnet-mode requests here, everything else to <paramref name="pools"/>.</summary>
    public IAgentService Serve(IAgentService pools) => new SubnetModesService(this, pools);

    /// <summary>The Prometheus text of the modes: leases, peers, programmed routes and FDB entries, repairs, pods.</summary>
    public string RenderMetrics()
    {
        var text = new StringBuilder();
        void Metric(string name, string type, string help, Func<SubnetNetwork, long?> value)
        {
            PrometheusText.Header(text, name, type, help);
            foreach (var (mode, network) in Networks)
                if (value(network) is { } v)
                    text.Append(name).Append("{mode=\"").Append(Allocation.ModeName(mode)).Append("\"} ")
                        .Append(v.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        Metric("fathom_agent_subnet_lease_held", "gauge", "1 when the node holds its pod subnet lease and its last renewal got through.",
            n => n.Lease is not null && n.LeaseUnavailable() is null ? 1 : 0);
        Metric("fathom_agent_subnet_conflict", "gauge", "1 while pods of the node hold addresses of a subnet it no longer leases (no new pod is taken; /readyz fails).",
            n => n.Conflict() is null ? 0 : 1);
        Metric("fathom_agent_subnet_stranded_pods", "gauge", "Pods holding addresses of a subnet the node no longer leases: to be deleted (drained).",
            n => n.Conflict()?.Stranded.Count ?? 0);
        Metric("fathom_agent_subnet_conflicts_total", "counter", "Times a subnet conflict began.", n => n.Conflicts);
        Metric("fathom_agent_subnet_lease_expires_seconds", "gauge", "Seconds until the node's lease ends unless renewed.",
            n => n.Lease?.Expires is { } e ? (long)(e - DateTimeOffset.UtcNow).TotalSeconds : null);
        Metric("fathom_agent_subnet_peers", "gauge", "Other nodes' live leases.", n => n.Peers().Count);
        Metric("fathom_agent_subnet_routes", "gauge", "Routes to other nodes' pod subnets programmed in the kernel.", n => n.Programmer.Routes);
        Metric("fathom_agent_subnet_fdb_entries", "gauge", "VXLAN FDB entries (VTEP MAC to node IP) programmed (overlay).",
            n => n.Mode == AllocationMode.Overlay ? n.Programmer.FdbEntries : null);
        Metric("fathom_agent_subnet_masquerade", "gauge", "1 while the mode's pods leave the cluster with the node's address (outgoing NAT).",
            n => n.Programmer.Masquerading ? 1 : 0);
        Metric("fathom_agent_subnet_redirected_pods", "gauge", "Pod veths with the tc BPF pod path attached (redirect: bpf).",
            n => n.Programmer.RedirectedPods);
        Metric("fathom_agent_subnet_redirect_attached_on_sight_total", "counter", "Pod veths given the tc BPF pod path as they appeared (link events), not by a reconcile.",
            n => n.PodVethsRedirectedOnSight);
        Metric("fathom_agent_subnet_repairs_total", "counter", "Routes, neighbours, FDB entries, the cluster rule or the NAT table found missing or wrong and put back.", n => n.Programmer.Repairs);
        Metric("fathom_agent_subnet_reconciles_total", "counter", "Reconciles of the kernel against the leases.", n => n.Programmer.Reconciles);
        Metric("fathom_agent_subnet_reconcile_failures_total", "counter", "Reconciles that failed.", n => n.Programmer.Failures);
        Metric("fathom_agent_subnet_pods", "gauge", "Pods holding an address of the node's subnet.", n => n.Pods);
        // The subnet itself, as an info-style series.
        PrometheusText.Header(text, "fathom_agent_subnet_info", "gauge", "The node's leased pod subnet.");
        foreach (var (mode, network) in Networks)
            if (network.Lease is { } lease)
                text.Append("fathom_agent_subnet_info{mode=\"").Append(Allocation.ModeName(mode)).Append("\",subnet=\"").Append(lease.Subnet).Append("\"} 1\n");
        return text.ToString();
    }

    /// <summary>Why the node should take no new pods (a mode's <see cref="SubnetConflict"/>), or null when it is ready: <c>/readyz</c>.</summary>
    public string? NotReady()
    {
        var why = Networks.Values.Select(n => n.Conflict()?.Describe(Allocation.ModeName(n.Mode))).OfType<string>().ToList();
        return why.Count == 0 ? null : string.Join("; ", why);
    }

    /// <summary>Stops every mode (their leases stay, for the next start).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var network in Networks.Values)
            await network.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>
/// The plugin's requests split by mode: an ADD asking host-gw or overlay goes to that mode's
/// <see cref="SubnetNetwork"/>; DEL, CHECK and GC go to whichever holds the attachment (a subnet
/// mode first, then the pools); STATUS is the pools', with the subnet modes' rows added.
/// </summary>
internal sealed class SubnetModesService(SubnetModes modes, IAgentService pools) : IAgentService
{
    public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken)
    {
        if (request.RequestedMode is not (AllocationMode.HostGw or AllocationMode.Overlay) || request.RequestedMode is not { } mode)
            return pools.AllocateAsync(request, cancellationToken);
        if (!modes.Networks.TryGetValue(mode, out var network))
            return ValueTask.FromResult<AgentReply>(new ErrorReply
            {
                Code = AgentErrorCode.TryAgainLater,
                Message = $"this fathom-agent serves no {Allocation.ModeName(mode)} pods: its config has no subnets.{(mode == AllocationMode.HostGw ? "hostGw" : "overlay")} section",
            });
        return network.AllocateAsync(request, cancellationToken);
    }

    public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken)
    {
        foreach (var network in modes.Networks.Values)
        {
            try
            {
                if (network.Release(request.Network, request.ContainerId, request.IfName))
                    return ValueTask.FromResult<AgentReply>(new DoneReply());
            }
            catch (IOException e)
            {
                // Nothing was released that is not recorded; the runtime retries DEL.
                return ValueTask.FromResult<AgentReply>(network.StateFailure($"releasing {request.ContainerId}/{request.IfName}", e));
            }
        }
        return pools.ReleaseAsync(request, cancellationToken);
    }

    public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken)
    {
        foreach (var network in modes.Networks.Values)
            if (network.Holds(request.Network, request.ContainerId, request.IfName))
                return ValueTask.FromResult<AgentReply>(new DoneReply());
        return pools.CheckAsync(request, cancellationToken);
    }

    public async ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken)
    {
        var released = modes.Networks.Values.SelectMany(n => n.Collect(request.Network, request.ValidAttachments)).ToList();
        var reply = await pools.GcAsync(request, cancellationToken).ConfigureAwait(false);
        if (reply is DoneReply done) done.Released = [.. done.Released, .. released];
        return reply;
    }

    public async ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken)
    {
        var reply = await pools.StatusAsync(request, cancellationToken).ConfigureAwait(false);
        return reply is StatusReply status
            ? status with { Status = status.Status with { Subnets = [.. modes.Networks.Values.Select(n => n.Status())] } }
            : reply;
    }
}
