using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.Sticky;
using Fathom.Agent.Tests.Hosting;
using Fathom.Agent.Tests.Pools;

namespace Fathom.Agent.Tests.Sticky;

/// <summary>The whole agent with <c>pools.sticky</c>, over its socket, against the lab's EC2: NodePools wires it; status and metrics show it.</summary>
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
                Cluster = "test", NodeName = "node-1", WarmEnis = 1, WarmIps = 0, RefillIntervalSeconds = 0.2,
                Sticky = new StickyConfig { Namespaces = ["db"], CheckIntervalSeconds = 0.2 },
            },
        };
        await using var host = await AgentHost.StartAsync(config, _fx.Log, (_, _) => Task.CompletedTask, _lab.ProviderFor(instance), new FakeNodeDevices(),
            allowedUid: AgentHostTests.Uid());
        var client = new AgentClient(config.SocketPath, TimeSpan.FromSeconds(20));
        AllocateRequest Add(string container) => new()
        {
            Network = "net", ContainerId = container, IfName = "eth0", RequestedMode = AllocationMode.Underlay,
            Pod = new PodIdentity { Namespace = "db", Name = "web-0" }, NetnsPath = "/var/run/netns/" + container,
        };

        var first = Assert.IsType<UnderlayAllocation>(client.Allocate(Add("c1")));
        client.Release(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" });
        Eventually.True(() => host.Pools!.Sticky!.Store.Get("db/web-0") is { Phase: StickyPhase.Retained, TagsInSync: true }, "the ENI retained and tagged released");
        Assert.Contains(client.Status().Enis, e => e.EniId == first.EniId && e.Use == "sticky");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        Assert.Contains("fathom_agent_sticky_enis{phase=\"retained\"} 1", await http.GetStringAsync("metrics"), StringComparison.Ordinal);

        var again = Assert.IsType<UnderlayAllocation>(client.Allocate(Add("c2")));
        Assert.Equal((first.EniId, first.Address, first.Mac), (again.EniId, again.Address, again.Mac));
        Assert.Contains(client.Status().Enis, e => e.EniId == first.EniId && e.Use == "exclusive");
    }
}
