using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.Tests.Hosting;

namespace Fathom.Agent.Tests.Pools;

/// <summary>The whole agent with pools, over its socket, against the lab's EC2: what the plugin and <c>fathomctl status</c> see.</summary>
public sealed class AgentHostPoolTests : IAsyncLifetime
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
    public async Task Adds_are_served_from_the_pools_and_status_and_metrics_show_them()
    {
        var instance = await _lab.LaunchAsync("c5.4xlarge", "node-1");
        var port = AgentHostTests.FreePort();
        var config = new AgentConfig
        {
            SocketPath = Path.Combine(_fx.Root, "run", "agent.sock"),
            StateDir = _fx.StatePath,
            MetricsAddress = $"127.0.0.1:{port}",
            IpCooldownSeconds = 0,
            Cloud = new CloudConfig(),
            Pools = new PoolConfig { Cluster = "test", NodeName = "node-1", WarmEnis = 1, WarmIps = 2, RefillIntervalSeconds = 0.2 },
        };
        var devices = new FakeNodeDevices();
        var returned = new List<string>();
        await using var host = await AgentHost.StartAsync(config, _fx.Log, (job, _) => { lock (returned) returned.Add(job.Device); return Task.CompletedTask; },
            _lab.ProviderFor(instance), devices, allowedUid: AgentHostTests.Uid());
        var client = new AgentClient(config.SocketPath, TimeSpan.FromSeconds(20));

        var underlay = Assert.IsType<UnderlayAllocation>(client.Allocate(new AllocateRequest
        {
            Network = "net", ContainerId = "u1", IfName = "eth0", RequestedMode = AllocationMode.Underlay,
        }));
        var shared = Assert.IsType<SharedAllocation>(client.Allocate(new AllocateRequest { Network = "net", ContainerId = "s1", IfName = "eth0" }));
        Assert.Equal(100, shared.RouteTable);

        var status = client.Status();
        Assert.Equal(1, status.Pools.Single(p => p.Mode == AllocationMode.Underlay).InUse);
        Assert.Equal(1, status.Pools.Single(p => p.Mode == AllocationMode.Shared).InUse);
        Assert.Contains(status.Enis, e => e.EniId == underlay.EniId && e.Use == "exclusive" && e.HostDevice == underlay.HostDevice);
        Assert.Contains(status.Enis, e => e.Use == "primary" && e.DeviceIndex == 0);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        var metrics = await http.GetStringAsync("metrics");
        Assert.Contains("fathom_agent_pool_enis{role=\"exclusive\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_pool_allocations_total 2", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_add_duration_seconds_count 2", metrics, StringComparison.Ordinal);
        Assert.Contains("fathom_agent_request_duration_seconds_count{request=\"allocate\"} 2\n", metrics, StringComparison.Ordinal);
        // The cloud's calls by action and outcome, with their latency (docs/cloud.md, "Metrics").
        Assert.Matches(@"fathom_cloud_requests_total\{action=""AttachNetworkInterface"",outcome=""success""\} [1-9]", metrics);
        Assert.Matches(@"fathom_cloud_request_duration_seconds_bucket\{action=""CreateNetworkInterface"",outcome=""success"",le=""30""\} [1-9]", metrics);
        Assert.Matches(@"fathom_cloud_request_duration_seconds_count\{action=""DescribeNetworkInterfaces"",outcome=""success""\} [1-9]", metrics);
        Assert.Contains("# TYPE fathom_cloud_retries_total counter\n", metrics, StringComparison.Ordinal);

        // DEL: the ENI goes back once its teardown ran, then it is warm again (and the surplus is released, with hysteresis).
        client.Release(new ReleaseRequest { Network = "net", ContainerId = "u1", IfName = "eth0" });
        Eventually.True(() => host.Teardown.Pending().Count == 0, "the ENI's return ran");
        Assert.Contains(underlay.HostDevice, returned);
        Eventually.True(() => host.Pools!.Pool.Snapshot().Enis.All(e => e.Role != Fathom.Agent.Pools.EniRole.Exclusive), "the ENI is not held any more");
        Assert.Contains("fathom_agent_request_duration_seconds_count{request=\"release\"} 1\n", await http.GetStringAsync("metrics"), StringComparison.Ordinal);
    }
}
