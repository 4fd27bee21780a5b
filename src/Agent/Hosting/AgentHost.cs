using System.Globalization;
using System.Text;
using Fathom.Agent.Metrics;
using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Cloud;
using Fathom.Agent.State;
using Fathom.Agent.Subnets;
using Fathom.Agent.Teardown;

namespace Fathom.Agent.Hosting;

/// <summary>
/// The running agent: state opened (and locked), the teardown worker started, the socket served,
/// metrics and health on loopback. <see cref="DisposeAsync"/> stops them in reverse order; whatever
/// was not done (teardown jobs, pending allocations) is on disk for the next start.
/// </summary>
public sealed class AgentHost : IAsyncDisposable
{
    private readonly StateDirectory _state;

    private AgentHost(StateDirectory state, AllocationStore store, IpCooldown cooldown, TeardownQueue teardown,
        AllocationService service, AgentListener listener, MetricsEndpoint? metrics, NodePools? pools = null)
    {
        Pools = pools;
        _state = state;
        Store = store;
        Cooldown = cooldown;
        Teardown = teardown;
        Service = service;
        Listener = listener;
        Metrics = metrics;
    }

    /// <summary>The durable allocations.</summary>
    public AllocationStore Store { get; }

    /// <summary>The IPs cooling down.</summary>
    public IpCooldown Cooldown { get; }

    /// <summary>The teardown jobs.</summary>
    public TeardownQueue Teardown { get; }

    /// <summary>What answers the plugin.</summary>
    public AllocationService Service { get; }

    /// <summary>The plugin's socket.</summary>
    public AgentListener Listener { get; }

    /// <summary>The warm pools, or null when the agent runs without a cloud.</summary>
    public NodePools? Pools { get; }

    /// <summary>The host-gw and overlay modes, or null when the config has no <c>subnets</c> section.</summary>
    public SubnetModes? Subnets { get; private init; }

    // The cloud provider's instruments on /metrics (StartAsync with a ResilientCloudProvider).
    private CloudMetricsExport? _cloudMetrics;

    /// <summary>The metrics and health endpoint, or null when none is configured.</summary>
    public MetricsEndpoint? Metrics { get; }

    /// <summary>Starts an agent as <paramref name="config"/> says.</summary>
    /// <param name="config">Paths and addresses.</param>
    /// <param name="log">Where it logs.</param>
    /// <param name="teardownExecutor">Does the kernel work of teardown jobs.</param>
    /// <param name="time">The clock (cooldowns, backoff, time stamps).</param>
    /// <param name="allowedUid">The uid allowed on the socket (root; other values for tests).</param>
    public static AgentHost Start(AgentConfig config, AgentLog log, TeardownExecutor teardownExecutor,
        TimeProvider? time = null, uint allowedUid = 0)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(log);
        time ??= TimeProvider.System;
        var state = StateDirectory.Open(config.StateDir, log, time, config.SyncStateWrites);
        TeardownQueue? teardown = null;
        AgentListener? listener = null;
        SubnetModes? subnets = null;
        try
        {
            var store = AllocationStore.Open(state);
            var cooldown = IpCooldown.Open(state, TimeSpan.FromSeconds(config.IpCooldownSeconds));
            teardown = TeardownQueue.Open(state, teardownExecutor);
            teardown.Start();
            var service = new AllocationService(store, cooldown, teardown, log, time);
            subnets = SubnetModes.Start(config.Subnets, state, config.Pools?.EffectiveNodeName, log, time);
            var t = teardown;
            (listener, var metrics) = Serve(config, log, allowedUid, service, subnets, l => RenderMetrics(store, cooldown, t, l));
            log.Info("agent.started", $"fathom-agent serving {config.SocketPath}, state in {config.StateDir}, metrics on {config.MetricsAddress}",
                ("socket", config.SocketPath), ("stateDir", config.StateDir), ("metrics", config.MetricsAddress),
                ("allocations", store.Count), ("teardowns", teardown.Pending().Count));
            return new AgentHost(state, store, cooldown, teardown, service, listener, metrics) { Subnets = subnets };
        }
        catch
        {
            if (listener is not null)
                listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
            subnets?.DisposeAsync().AsTask().GetAwaiter().GetResult();
            if (teardown is not null)
                teardown.DisposeAsync().AsTask().GetAwaiter().GetResult();
            state.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts an agent with its warm pools: as <see cref="Start"/>, and before serving, the instance
    /// learnt from the metadata service, its limits from the cloud, the pool rebuilt from the cloud
    /// and the state (reconcile, the leaked-ENI sweep), the refiller started. ADDs are then served
    /// from the pools; a teardown job done puts its ENI back to warm (its IP keeps cooling).
    /// </summary>
    /// <param name="config">Paths, addresses, and <see cref="AgentConfig.Pools"/> (required here).</param>
    /// <param name="log">Where it logs.</param>
    /// <param name="teardownExecutor">Does the kernel work of teardown jobs.</param>
    /// <param name="cloud">The cloud (a <see cref="ResilientCloudProvider"/> in production).</param>
    /// <param name="devices">The node's devices (<see cref="KernelNodeDevices"/> in production).</param>
    /// <param name="time">The clock.</param>
    /// <param name="allowedUid">The uid allowed on the socket.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public static async Task<AgentHost> StartAsync(AgentConfig config, AgentLog log, TeardownExecutor teardownExecutor,
        ICloudProvider cloud, INodeDevices devices, TimeProvider? time = null, uint allowedUid = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(log);
        ArgumentNullException.ThrowIfNull(teardownExecutor);
        var poolConfig = config.Pools ?? throw new ArgumentException("the config has no pools section", nameof(config));
        time ??= TimeProvider.System;
        var state = StateDirectory.Open(config.StateDir, log, time, config.SyncStateWrites);
        TeardownQueue? teardown = null;
        NodePools? pools = null;
        AgentListener? listener = null;
        SubnetModes? subnets = null;
        var cloudMetrics = cloud is ResilientCloudProvider resilient ? new CloudMetricsExport(resilient.Metrics.Meter) : null;
        try
        {
            var store = AllocationStore.Open(state);
            var cooldown = IpCooldown.Open(state, TimeSpan.FromSeconds(config.IpCooldownSeconds));
            // A job done frees its ENI (or veth name): the pool hears of it, so a waiting ADD or the refiller looks again.
            teardown = TeardownQueue.Open(state, async (job, ct) =>
            {
                await teardownExecutor(job, ct).ConfigureAwait(false);
                pools?.Pool.Notify();
            });
            teardown.Start();
            pools = await NodePools.StartAsync(cloud, poolConfig, store, cooldown, teardown, devices, log, time, cancellationToken,
                underlayNodeRoutes: config.Subnets?.ClusterCidrs).ConfigureAwait(false);
            // Underlay pods' routes to the node's subnet modes: those made before a mode get it, those made under a mode dropped since lose it.
            UnderlayRoutes.Reconcile(store, config.Subnets?.ClusterCidrs ?? [], log);
            var running = pools;
            var service = new AllocationService(store, cooldown, teardown, log, time)
            {
                AllocateNew = running.Allocator.AllocateAsync,
                PoolView = () => running.Status(store),
                Released = running.Pool.Notify,
            };
            subnets = SubnetModes.Start(config.Subnets, state, poolConfig.EffectiveNodeName, log, time);
            var t = teardown;
            (listener, var metrics) = Serve(config, log, allowedUid, service, subnets,
                l => RenderMetrics(store, cooldown, t, l) + running.RenderMetrics() + cloudMetrics?.Render());
            log.Info("agent.started", $"fathom-agent serving {config.SocketPath} with pools for {poolConfig.Cluster}/{poolConfig.EffectiveNodeName}, state in {config.StateDir}",
                ("socket", config.SocketPath), ("stateDir", config.StateDir), ("metrics", config.MetricsAddress),
                ("allocations", store.Count), ("teardowns", teardown.Pending().Count), ("enis", running.Pool.Enis().Count));
            return new AgentHost(state, store, cooldown, teardown, service, listener, metrics, running) { Subnets = subnets, _cloudMetrics = cloudMetrics };
        }
        catch
        {
            if (listener is not null)
                await listener.DisposeAsync().ConfigureAwait(false);
            if (subnets is not null)
                await subnets.DisposeAsync().ConfigureAwait(false);
            if (pools is not null)
                await pools.DisposeAsync().ConfigureAwait(false);
            if (teardown is not null)
                await teardown.DisposeAsync().ConfigureAwait(false);
            cloudMetrics?.Dispose();
            state.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The one way both starts serve: the plugin's socket (subnet-mode requests to <paramref name="subnets"/>,
    /// the rest to <paramref name="service"/>), then, when configured, <c>/healthz</c>, <c>/readyz</c> and
    /// <c>/metrics</c> on loopback — the metrics being <paramref name="renderOwn"/>'s (the start's own:
    /// allocations, and the pools' when it has them) followed by the subnet modes'. A metrics endpoint
    /// that cannot bind stops the listener again before the exception goes up.
    /// </summary>
    private static (AgentListener Listener, MetricsEndpoint? Metrics) Serve(AgentConfig config, AgentLog log, uint allowedUid,
        IAgentService service, SubnetModes? subnets, Func<AgentListener, string> renderOwn)
    {
        var timed = new TimedAgentService(subnets?.Serve(service) ?? service);
        var listener = AgentListener.Start(config.SocketPath, timed, new AgentListenerOptions
        {
            AllowedUid = allowedUid,
            Log = line => log.Info("socket", line, ("socket", config.SocketPath)),
        });
        if (config.MetricsEndPoint is not { } endpoint) return (listener, null);
        try
        {
            // Ready unless a subnet mode has pods stranded in a subnet the node no longer leases (issue 10 §1).
            var metrics = MetricsEndpoint.Start(endpoint, () => true, () => renderOwn(listener) + timed.Render() + subnets?.RenderMetrics(),
                () => subnets?.NotReady());
            return (listener, metrics);
        }
        catch
        {
            listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    /// <summary>The Prometheus text of the agent's state.</summary>
    internal static string RenderMetrics(AllocationStore store, IpCooldown cooldown, TeardownQueue teardown, AgentListener listener)
    {
        var records = store.All();
        var text = new StringBuilder();
        void Metric(string name, string type, string help, IEnumerable<(string Labels, long Value)> samples)
        {
            PrometheusText.Header(text, name, type, help);
            foreach (var (labels, value) in samples)
                text.Append(name).Append(labels).Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        Metric("fathom_agent_allocations", "gauge", "Allocations recorded, by mode and state.",
            from mode in new[] { "underlay", "shared" }
            from state in new[] { "pending", "committed" }
            select ($"{{mode=\"{mode}\",state=\"{state}\"}}", (long)records.Count(r =>
                (r.Allocation is UnderlayAllocation ? "underlay" : "shared") == mode
                && (r.State == AllocationState.Committed ? "committed" : "pending") == state)));
        Metric("fathom_agent_ips_cooling", "gauge", "Freed secondary IPs not yet reusable.", [("", cooldown.Cooling().Count)]);
        Metric("fathom_agent_teardowns_pending", "gauge", "Teardown jobs (ENI returns, veth deletions) not yet done.", [("", teardown.Pending().Count)]);
        Metric("fathom_agent_requests_total", "counter", "Plugin requests answered.", [("", listener.Requests)]);
        Metric("fathom_agent_requests_rejected_total", "counter", "Connections or frames refused (uid, malformed, too slow).", [("", listener.Rejected)]);
        return text.ToString();
    }

    /// <summary>Stops serving, then the teardown worker; releases the state directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Metrics is not null)
            await Metrics.DisposeAsync().ConfigureAwait(false);
        await Listener.DisposeAsync().ConfigureAwait(false);
        if (Subnets is not null)
            await Subnets.DisposeAsync().ConfigureAwait(false);
        if (Pools is not null)
            await Pools.DisposeAsync().ConfigureAwait(false);
        await Teardown.DisposeAsync().ConfigureAwait(false);
        _cloudMetrics?.Dispose();
        _state.Log.Info("agent.stopped", "fathom-agent stopped");
        _state.Dispose();
    }
}
