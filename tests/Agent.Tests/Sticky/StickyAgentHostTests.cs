using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.Sticky;
using Fathom.Agent.Tests.Hosting;
using Fathom.Agent.Tests.Pools;

namespace Fathom.Agent.Tests.Sticky;

/// <summary>
/// The whole agent with <c>pools.sticky</c>, over its socket, against the lab's EC2: NodePools wires the sticky
/// ENIs and the sticky IPs; status and metrics show them, and count a sticky ADD like any.
/// </summary>
public sealed class StickyAgentHostTests : IAsyncLifetime
{
    private readonly StateFixture _fx = new();
    private PoolLab _lab = null!;

    public async Task InitializeAsync() => _lab = await PoolLab.StartAsync();

    public async Task DisposeAsync()
    {
        await _lab.DisposeAsync();
        _fx.Dispose();
    }

    [Fact]
    public async Task A_sticky_pods_ENI_is_retained_after_its_DEL_shown_as_sticky_and_its_own_again()
    {
        var (host, client, http) = await StartAsync(warmEnis: 1, warmIps: 0);
        await using var _ = host;
        using var __ = http;

        var first = Assert.IsType<UnderlayAllocation>(client.Allocate(Add("c1", AllocationMode.Underlay)));
        client.Release(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" });
        Eventually.True(() => host.Pools!.Sticky!.Store.Get("db/web-0") is { Phase: StickyPhase.Retained, TagsInSync: true }, "the ENI retained and tagged released");
        Assert.Contains(client.Status().Enis, e => e.EniId == first.EniId && e.Use == "sticky");
        Assert.Contains("fathom_agent_sticky_enis{phase=\"retained\"} 1", await http.GetStringAsync("metrics"), StringComparison.Ordinal);

        var again = Assert.IsType<UnderlayAllocation>(client.Allocate(Add("c2", AllocationMode.Underlay)));
        Assert.Equal((first.EniId, first.Address, first.Mac), (again.EniId, again.Address, again.Mac));
        Assert.Contains(client.Status().Enis, e => e.EniId == first.EniId && e.Use == "exclusive");
    }

    [Fact]
    public async Task A_sticky_shared_pods_IP_is_retained_after_its_DEL_counted_in_the_metrics_and_its_own_again()
    {
        var (host, client, http) = await StartAsync(warmEnis: 0, warmIps: 2);
        await using var _ = host;
        using var __ = http;

        var first = Assert.IsType<SharedAllocation>(client.Allocate(Add("c1", AllocationMode.Shared)));
        client.Release(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" });
        Eventually.True(() => host.Pools!.StickyIps!.Store.Get("db/web-0") is { Phase: StickyIpPhase.Retained, TagsInSync: true }, "the IP retained and tagged released");
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("fathom_agent_sticky_ips{phase=\"retained\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_pool_allocations_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_add_duration_seconds_count 1\n", metrics, StringComparison.Ordinal);

        var again = Assert.IsType<SharedAllocation>(client.Allocate(Add("c2", AllocationMode.Shared)));
        Assert.Equal((first.Address, first.EniId), (again.Address, again.EniId));
        Assert.Contains("fathom_agent_pool_allocations_total 2\n", await http.GetStringAsync("metrics"), StringComparison.Ordinal);
    }

    // db/web-0's ADD in container <paramref name="container"/>: pools.sticky below makes namespace db sticky.
    private static AllocateRequest Add(string container, AllocationMode mode) => new()
    {
        Network = "net", ContainerId = container, IfName = "eth0", RequestedMode = mode,
        Pod = new PodIdentity { Namespace = "db", Name = "web-0" }, NetnsPath = "/var/run/netns/" + container,
    };

    private async Task<(AgentHost Host, AgentClient Client, HttpClient Metrics)> StartAsync(int warmEnis, int warmIps)
    {
        var instance = await _lab.LaunchAsync("m5.xlarge", "node-1");
        var port = AgentHostTests.FreePort();
        var config = new AgentConfig
        {
            SocketPath = Path.Combine(_fx.Root, "run", "agent.sock"),
            StateDir = _fx.StatePath,
            MetricsAddress = $"127.0.0.1:{port}",
            Cloud = new CloudConfig(),
            Pools = new PoolConfig
            {
                Cluster = "test", NodeName = "node-1", WarmEnis = warmEnis, WarmIps = warmIps, RefillIntervalSeconds = 0.2,
                Sticky = new StickyConfig { Namespaces = ["db"], CheckIntervalSeconds = 0.2 },
            },
        };
        var host = await AgentHost.StartAsync(config, _fx.Log, (_, _) => Task.CompletedTask, _lab.ProviderFor(instance), new FakeNodeDevices(),
            allowedUid: AgentHostTests.Uid());
        return (host, new AgentClient(config.SocketPath, TimeSpan.FromSeconds(20)), new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") });
    }
}
