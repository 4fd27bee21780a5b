using System.Globalization;
using System.Text;
using Fathom.Agent.Metrics;
using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Sticky;
using Fathom.Agent.Teardown;
using Fathom.Cloud;

namespace Fathom.Agent.Hosting;

/// <summary>
/// A node's pools, running: who this instance is (the metadata service) and what its type allows,
/// the <see cref="EniPool"/>, its <see cref="Refiller"/> and the <see cref="PoolAllocator"/> that
/// serves ADDs from it; what status and metrics show of them.
/// </summary>
public sealed class NodePools : IAsyncDisposable
{
    private NodePools(EniPool pool, Refiller refiller, PoolAllocator allocator, PoolConfig config, StickyEnis? sticky, StickyIps? stickyIps)
    {
        Sticky = sticky;
        StickyIps = stickyIps;
        Pool = pool;
        Refiller = refiller;
        Allocator = allocator;
        Config = config;
    }

    /// <summary>The pool.</summary>
    public EniPool Pool { get; }

    /// <summary>What fills it.</summary>
    public Refiller Refiller { get; }

    /// <summary>What serves ADDs from it (<see cref="AllocationService.AllocateNew"/>).</summary>
    public PoolAllocator Allocator { get; }

    /// <summary>The sticky pods' ENIs, or null when <see cref="PoolConfig.Sticky"/> is not set.</summary>
    public StickyEnis? Sticky { get; }

    /// <summary>The sticky pods' IPs (shared mode), or null when <see cref="PoolConfig.Sticky"/> is not set.</summary>
    public StickyIps? StickyIps { get; }

    /// <summary>The config it runs on.</summary>
    public PoolConfig Config { get; }

    /// <summary>
    /// Learns the instance from the metadata service and its limits from the cloud, rebuilds the
    /// pool from the cloud (reconcile: allocations of pods whose netns is gone released, the
    /// leaked-ENI sweep), and starts refilling. <paramref name="netnsAlive"/> tells whether a pod's
    /// netns still exists (<see cref="KernelTeardown.IsNetnsAlive"/> unless a test says).
    /// </summary>
    /// <paramref name="underlayNodeRoutes"/>: what underlay pods reach through the node (<see cref="EniPool.UnderlayNodeRoutes"/>).
    /// <exception cref="CloudException">The metadata service or the cloud could not say who this instance is.</exception>
    public static async Task<NodePools> StartAsync(ICloudProvider cloud, PoolConfig config, AllocationStore store, IpCooldown cooldown,
        TeardownQueue teardown, INodeDevices devices, AgentLog log, TimeProvider? time = null, CancellationToken cancellationToken = default,
        Func<string?, bool?>? netnsAlive = null, IReadOnlyList<string>? underlayNodeRoutes = null)
    {
        ArgumentNullException.ThrowIfNull(cloud);
        ArgumentNullException.ThrowIfNull(config);
        time ??= TimeProvider.System;
        var self = await cloud.DescribeSelfAsync(cancellationToken).ConfigureAwait(false);
        var limits = await cloud.GetInstanceLimitsAsync(self.InstanceType, cancellationToken).ConfigureAwait(false);
        log.Info("pool.identity", $"instance {self.InstanceId} ({self.InstanceType}: {limits.MaxEnis} ENIs × {limits.Ipv4PerEni} IPv4) in {self.SubnetId}",
            ("instance", self.InstanceId), ("type", self.InstanceType), ("maxEnis", limits.MaxEnis), ("ipv4PerEni", limits.Ipv4PerEni));
        var pool = new EniPool(self, limits, store, cooldown, teardown, devices, log) { UnderlayNodeRoutes = underlayNodeRoutes ?? [] };
        // Before the first reconcile: from then on the pool keeps the sticky records' ENIs out of its own use.
        var stickyOptions = config.Sticky is { } stickyConfig
            ? new StickyEnisOptions { Cluster = config.Cluster, NodeName = config.EffectiveNodeName, Config = stickyConfig, Mtu = config.Mtu }
            : null;
        var sticky = stickyOptions is null ? null : new StickyEnis(pool, cloud, StickyStore.Open(store.State), store, teardown, stickyOptions, log, time);
        var stickyIps = stickyOptions is null ? null
            : new StickyIps(pool, cloud, StickyIpStore.Open(store.State), store, cooldown, teardown, stickyOptions, log, time);
        var refiller = new Refiller(pool, cloud, new RefillerOptions
        {
            Cluster = config.Cluster,
            NodeName = config.EffectiveNodeName,
            Targets = config.Targets,
            SubnetIds = config.SubnetIds,
            SecurityGroupIds = config.SecurityGroupIds,
            Interval = TimeSpan.FromSeconds(config.RefillIntervalSeconds),
            ReconcileInterval = TimeSpan.FromSeconds(config.ReconcileIntervalSeconds),
            ParallelAttaches = config.ParallelAttaches,
            StickyRetention = config.Sticky?.Retention,
        }, log, time)
        {
            // A pod whose netns the runtime deleted holds nothing any more: an agent killed mid-ADD leaves such records.
            ReleaseGoneAttachments = () => new AttachmentRelease(store, cooldown, teardown, log).ReleaseGone(netnsAlive ?? KernelTeardown.IsNetnsAlive).Count,
        };
        var allocator = new PoolAllocator(pool, refiller, teardown, new PoolAllocatorOptions
        {
            DefaultMode = config.DefaultAllocationMode,
            FallbackToShared = config.Fallback == "shared",
            Timeout = TimeSpan.FromSeconds(config.AllocateTimeoutSeconds),
            Mtu = config.Mtu,
            // Past an ADD's own kernel work (≈ 25 ms, the move) and a burst of them: docs/benchmarks.md,
            // "Where an underlay ADD goes". A pod that finds nothing warm still wakes the refiller at once.
            RefillHold = TimeSpan.FromMilliseconds(100),
        }, time)
        {
            StickyEnis = sticky,
            StickyIps = stickyIps,
        };
        await refiller.StartAsync(cancellationToken).ConfigureAwait(false);
        if (sticky is not null)
            await sticky.StartAsync(cancellationToken).ConfigureAwait(false);
        if (stickyIps is not null)
            await stickyIps.StartAsync(cancellationToken).ConfigureAwait(false);
        return new NodePools(pool, refiller, allocator, config, sticky, stickyIps);
    }

    /// <summary>The pools and ENIs as <c>fathomctl status</c> shows them.</summary>
    public (IReadOnlyList<PoolStatus> Pools, IReadOnlyList<EniStatus> Enis) Status(AllocationStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        var snapshot = Pool.Snapshot();
        var byId = snapshot.Enis.ToDictionary(e => e.EniId, StringComparer.Ordinal);
        var max = Math.Min(snapshot.MaxEnis, Config.MaxEnis ?? int.MaxValue);
        var pools = new List<PoolStatus>
        {
            new()
            {
                Mode = AllocationMode.Underlay,
                Available = snapshot.Enis.Count(e => e.IsWarm),
                InUse = snapshot.Enis.Count(e => e.Role == EniRole.Exclusive),
                WarmTarget = Config.WarmEnis,
                Capacity = Math.Max(0, max - 1),
            },
            new()
            {
                Mode = AllocationMode.Shared,
                Available = snapshot.Enis.Where(e => e.Primary || e.Role == EniRole.Hosting).Sum(e => e.FreeIps),
                InUse = snapshot.Enis.Sum(e => e.UsedIps),
                Cooling = snapshot.Enis.Sum(e => e.CoolingIps),
                WarmTarget = Config.WarmIps,
                Capacity = max * snapshot.SecondaryIpsPerEni,
            },
        };
        var enis = Pool.Enis().Select(e =>
        {
            var state = byId.GetValueOrDefault(e.EniId);
            return new EniStatus
            {
                EniId = e.EniId,
                Mac = string.Join(':', e.Mac.GetAddressBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture))),
                DeviceIndex = e.DeviceIndex,
                HostDevice = e.HostDevice,
                SubnetId = e.SubnetId,
                Use = e.Primary ? "primary"
                    : Pool.Reserved?.Invoke(e.EniId) == true && !store.IsEniHeldWhole(e.EniId) ? "sticky"
                    : state?.Role switch
                {
                    EniRole.Exclusive => "exclusive",
                    EniRole.Hosting => "shared",
                    _ => "warm",
                },
                IpsInUse = state?.UsedIps ?? 0,
                IpsCapacity = snapshot.SecondaryIpsPerEni,
            };
        }).ToList();
        return (pools, enis);
    }

    /// <summary>The pools' Prometheus text: sizes by state, allocations, code-11 answers, ADD latency.</summary>
    public string RenderMetrics()
    {
        var snapshot = Pool.Snapshot();
        var text = new StringBuilder();
        PrometheusText.Header(text, "fathom_agent_pool_enis", "gauge", "ENIs attached to this instance, by role.");
        foreach (var (role, count) in new[]
                 {
                     ("primary", snapshot.Enis.Count(e => e.Primary)),
                     ("warm", snapshot.Enis.Count(e => e.IsWarm)),
                     ("exclusive", snapshot.Enis.Count(e => e.Role == EniRole.Exclusive)),
                     ("hosting", snapshot.Enis.Count(e => !e.Primary && !e.IsWarm && e.Role == EniRole.Hosting)),
                     ("attaching", snapshot.AttachingEnis),
                 })
            text.Append(CultureInfo.InvariantCulture, $"fathom_agent_pool_enis{{role=\"{role}\"}} {count}\n");
        PrometheusText.Header(text, "fathom_agent_pool_ips", "gauge", "Secondary IPs of this instance, by state.");
        foreach (var (state, count) in new[]
                 {
                     ("free", snapshot.Enis.Where(e => e.Role != EniRole.Exclusive).Sum(e => e.FreeIps)),
                     ("used", snapshot.Enis.Sum(e => e.UsedIps)),
                     ("cooling", snapshot.Enis.Sum(e => e.CoolingIps)),
                     ("assigning", snapshot.PendingIps),
                 })
            text.Append(CultureInfo.InvariantCulture, $"fathom_agent_pool_ips{{state=\"{state}\"}} {count}\n");
        PrometheusText.Header(text, "fathom_agent_pool_allocations_total", "counter", "New allocations served from the pools.");
        text.Append(CultureInfo.InvariantCulture, $"fathom_agent_pool_allocations_total {Allocator.Allocations}\n");
        PrometheusText.Header(text, "fathom_agent_pool_exhausted_total", "counter", "ADDs answered code 11 because nothing was free within the bound.");
        text.Append(CultureInfo.InvariantCulture, $"fathom_agent_pool_exhausted_total {Allocator.Failures}\n");
        PrometheusText.Header(text, "fathom_agent_add_duration_seconds", "histogram", "Time to serve a new allocation from the pools.");
        Allocator.Latency.Render(text, "fathom_agent_add_duration_seconds");
        if (Sticky is not null)
        {
            var records = Sticky.Store.All();
            PrometheusText.Header(text, "fathom_agent_sticky_enis", "gauge", "Sticky pods' ENIs this node answers for, by phase.");
            foreach (var phase in Enum.GetValues<StickyPhase>())
                text.Append(CultureInfo.InvariantCulture, $"fathom_agent_sticky_enis{{phase=\"{phase.ToString().ToLowerInvariant()}\"}} {records.Count(r => r.Phase == phase)}\n");
        }
        if (StickyIps is not null)
        {
            var records = StickyIps.Store.All();
            PrometheusText.Header(text, "fathom_agent_sticky_ips", "gauge", "Sticky shared pods' IPs this node answers for, by phase.");
            foreach (var phase in Enum.GetValues<StickyIpPhase>())
                text.Append(CultureInfo.InvariantCulture, $"fathom_agent_sticky_ips{{phase=\"{phase.ToString().ToLowerInvariant()}\"}} {records.Count(r => r.Phase == phase)}\n");
        }
        return text.ToString();
    }

    /// <summary>Stops refilling and the sticky ENIs' and IPs' loops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (StickyIps is not null)
            await StickyIps.DisposeAsync().ConfigureAwait(false);
        if (Sticky is not null)
            await Sticky.DisposeAsync().ConfigureAwait(false);
        await Refiller.DisposeAsync().ConfigureAwait(false);
    }
}
