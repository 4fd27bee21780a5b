using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.Sticky;
using Fathom.Agent.Tests.Hosting;
using Fathom.Agent.Tests.Pools;

namespace Fathom.Agent.Tests.Sticky;

/// <summary>
/// The whole agent with <c>pools.sticky</c> and a shared pod, over its socket, against the lab's EC2:
/// NodePools wires the sticky IPs; metrics count the sticky ADDs like any and show the retained IP.
/// </summary>
public sealed class StickyIpsAgentHostTests : IAsyncLifetime
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
    public async Task A_sticky_shared_pods_IP_is_retained_after_its_DEL_counted_in_the_metrics_and_its_own_again()
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
                Cluster = "test", NodeName = "node-1", WarmEnis = 0, WarmIps = 2, RefillIntervalSeconds = 0.2,
                Sticky = new StickyConfig { Namespaces = ["db"], CheckIntervalSeconds = 0.2 },
            },
        };
        await using var host = await AgentHost.StartAsync(config, _fx.Log, (_, _) => Task.CompletedTask, _lab.ProviderFor(instance), new FakeNodeDevices(),
            allowedUid: AgentHostTests.Uid());
        var client = new AgentClient(config.SocketPath, TimeSpan.FromSeconds(20));
        AllocateRequest Add(string container) => new()
        {
            Network = "net", ContainerId = container, IfName = "eth0", RequestedMode = AllocationMode.Shared,
            Pod = new PodIdentity { Namespace = "db", Name = "web-0" }, NetnsPath = "/var/run/netns/" + container,
        };

        var first = Assert.IsType<SharedAllocation>(client.Allocate(Add("c1")));
        client.Release(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" });
        Eventually.True(() => host.Pools!.StickyIps!.Store.Get("db/web-0") is { Phase: StickyIpPhase.Retained, TagsInSync: true }, "the IP retained and tagged released");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("fathom_agent_sticky_ips{phase=\"retained\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_pool_allocations_total 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_add_duration_seconds_count 1\n", metrics, StringComparison.Ordinal);

        var again = Assert.IsType<SharedAllocation>(client.Allocate(Add("c2")));
        Assert.Equal((first.Address, first.EniId), (again.Address, again.EniId));
        Assert.Contains("fathom_agent_pool_allocations_total 2\n", await http.GetStringAsync("metrics"), StringComparison.Ordinal);
    }
}
