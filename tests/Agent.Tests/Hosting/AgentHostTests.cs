using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;

namespace Fathom.Agent.Tests.Hosting;

public sealed class AgentHostTests : IDisposable
{
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    internal static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    internal static uint Uid() => uint.Parse(File.ReadAllLines("/proc/self/status")
        .First(l => l.StartsWith("Uid:", StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[2]);

    private AgentConfig Config(int port) => new()
    {
        SocketPath = Path.Combine(_fx.Root, "run", "agent.sock"),
        StateDir = _fx.StatePath,
        MetricsAddress = $"127.0.0.1:{port}",
    };

    [Fact]
    public async Task The_agent_serves_its_state_on_the_socket_and_health_and_metrics_on_loopback()
    {
        // A previous run recorded an allocation.
        using (var state = StateDirectory.Open(_fx.StatePath))
            AllocationStore.Open(state).Reserve(new AttachmentKey("net", "c1", "eth0"), StateFixture.Shared("10.0.1.9"));

        var port = FreePort();
        var config = Config(port);
        await using (var host = AgentHost.Start(config, _fx.Log, (_, _) => Task.CompletedTask, allowedUid: Uid()))
        {
            var client = new AgentClient(config.SocketPath, TimeSpan.FromSeconds(10));
            Assert.Equal("c1", client.Status().Allocations.Single().ContainerId);
            Assert.Equal(StateFixture.Shared("10.0.1.9"), client.Allocate(new AllocateRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }));
            var refused = Assert.Throws<AgentException>(() => client.Allocate(new AllocateRequest { Network = "net", ContainerId = "c2", IfName = "eth0" }));
            Assert.Equal(AgentErrorCode.TryAgainLater, refused.Code);
            client.Release(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" });
            Eventually.True(() => host.Teardown.Pending().Count == 0, "the veth teardown ran");

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            Assert.Equal("ok\n", await http.GetStringAsync("healthz"));
            Assert.Equal("ok\n", await http.GetStringAsync("readyz")); // no subnet mode, so no subnet conflict
            var metrics = await http.GetStringAsync("metrics");
            Assert.Contains("fathom_agent_requests_total 4", metrics, StringComparison.Ordinal);
            Assert.Contains("fathom_agent_ips_cooling 1", metrics, StringComparison.Ordinal);
            Assert.Contains("fathom_agent_allocations{mode=\"shared\",state=\"pending\"} 0", metrics, StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync("nope")).StatusCode);
        }
        Assert.False(File.Exists(config.SocketPath));
        Assert.Single(_fx.Events("agent.started"));
        Assert.Single(_fx.Events("agent.stopped"));
    }

    [Fact]
    public async Task A_second_agent_on_the_same_state_does_not_start_and_leaves_the_first_alone()
    {
        var config = Config(FreePort());
        await using var first = AgentHost.Start(config, _fx.Log, (_, _) => Task.CompletedTask, allowedUid: Uid());
        var e = Assert.Throws<InvalidOperationException>(() =>
            AgentHost.Start(config with { MetricsAddress = "" }, _fx.Log, (_, _) => Task.CompletedTask, allowedUid: Uid()));
        Assert.Contains("another fathom-agent holds the state directory", e.Message, StringComparison.Ordinal);
        Assert.Empty(new AgentClient(config.SocketPath).Status().Allocations);
    }
}

/// <summary>The real executable, as a process: started, asked, SIGKILLed, restarted, SIGTERMed.</summary>
public sealed class AgentProcessTests : IDisposable
{
    private readonly StateFixture _fx = new();
    private TestNetns? _node;

    public void Dispose()
    {
        _node?.Dispose();
        _fx.Dispose();
    }

    // The agent runs as on a node: in a namespace of its own (ip netns exec execs it, so the pid is
    // the agent's), so that its kernel teardown never touches the machine the tests run on.
    private Process StartAgent(string configPath)
    {
        _node ??= TestNetns.Create("agent");
        var dll = Path.Combine(AppContext.BaseDirectory, "fathom-agent.dll");
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { "netns", "exec", _node.Name, "dotnet", "exec", dll, "--config", configPath })
            start.ArgumentList.Add(arg);
        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, e) => { lock (_stderr) _stderr.Add(e.Data ?? ""); };
        process.BeginErrorReadLine();
        return process;
    }

    private readonly List<string> _stderr = [];

    // The devices of the teardown jobs the agents ran, from their JSON log lines on stderr.
    private List<string> TeardownsDone()
    {
        lock (_stderr)
            return _stderr.Where(l => l.Contains("\"teardown.done\"", StringComparison.Ordinal))
                .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)?["device"]?.GetValue<string>())
                .OfType<string>().ToList();
    }

    private static bool Serving(AgentClient client)
    {
        try
        {
            client.Status();
            return true;
        }
        catch (AgentException e) when (e.Code == AgentErrorCode.TryAgainLater)
        {
            return false; // not up yet (no socket, or bound and not yet listening)
        }
    }

    private string[] Stderr()
    {
        lock (_stderr)
            return [.. _stderr];
    }

    [PrivilegedFact("ip")]
    public void SIGKILL_then_restart_keeps_the_state_and_replaces_the_stale_socket_then_SIGTERM_stops_cleanly()
    {
        if (AgentHostTests.Uid() != 0)
            return; // the executable lets only root in; as another user the socket refuses us
        var socket = Path.Combine(_fx.Root, "run", "agent.sock");
        var configPath = Path.Combine(_fx.Root, "agent.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["socketPath"] = socket,
            ["stateDir"] = _fx.StatePath,
            ["metricsAddress"] = "", // the endpoint is tested in process; a port here could race other tests for it
        }));
        using (var state = StateDirectory.Open(_fx.StatePath))
            AllocationStore.Open(state).Reserve(new AttachmentKey("net", "c1", "eth0"), StateFixture.Underlay("eni-1", "10.0.2.7"));

        var client = new AgentClient(socket, TimeSpan.FromSeconds(10));
        using (var first = StartAgent(configPath))
        {
            try
            {
                Eventually.True(() => Serving(client), $"the first agent serving (stderr: {string.Join('\n', Stderr())})");
                Assert.Equal("c1", client.Status().Allocations.Single().ContainerId);
                first.Kill(); // SIGKILL: no cleanup at all
                first.WaitForExit();
            }
            finally
            {
                if (!first.HasExited)
                    first.Kill();
            }
        }
        Assert.True(File.Exists(socket)); // what a killed agent leaves

        using var second = StartAgent(configPath);
        try
        {
            Eventually.True(() => Serving(client), $"the restarted agent serving (stderr: {string.Join('\n', Stderr())})");
            Assert.Equal("c1", client.Status().Allocations.Single().ContainerId);
            Eventually.True(() => Stderr().Any(l => l.Contains("removed stale socket", StringComparison.Ordinal)),
                "the restarted agent logging that it replaced the stale socket"); // stderr is read asynchronously
            Assert.All(Stderr().Where(l => l.StartsWith('{')), l => JsonDocument.Parse(l)); // structured logs

            using (var kill = Process.Start("kill", ["-TERM", second.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
                kill.WaitForExit();
            Assert.True(second.WaitForExit(15_000), "the agent stops on SIGTERM");
            Assert.Equal(0, second.ExitCode);
            Assert.False(File.Exists(socket));
        }
        finally
        {
            if (!second.HasExited)
                second.Kill();
        }
    }

    [PrivilegedFact("ip")]
    public void SIGKILL_during_a_stream_of_DELs_never_frees_an_IP_without_its_cooldown_and_teardown()
    {
        if (AgentHostTests.Uid() != 0)
            return; // the executable lets only root in
        var socket = Path.Combine(_fx.Root, "run", "agent.sock");
        var configPath = Path.Combine(_fx.Root, "agent.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["socketPath"] = socket,
            ["stateDir"] = _fx.StatePath,
            ["metricsAddress"] = "",
            ["ipCooldownSeconds"] = 3600,
        }));
        var seeded = Enumerable.Range(1, 60).Select(i => (Key: new AttachmentKey("net", $"c{i}", "eth0"), Ip: $"10.0.1.{i}")).ToArray();
        using (var state = StateDirectory.Open(_fx.StatePath))
        {
            var store = AllocationStore.Open(state);
            foreach (var (key, ip) in seeded)
                store.Reserve(key, StateFixture.Shared(ip));
        }

        var random = new Random(9);
        var client = new AgentClient(socket, TimeSpan.FromSeconds(10));
        var remaining = new List<int>();
        for (var round = 0; round < 4; round++)
        {
            using var agent = StartAgent(configPath);
            try
            {
                Eventually.True(() => Serving(client), "the agent serving");
                var releasing = new Thread(() =>
                {
                    try
                    {
                        foreach (var (key, _) in seeded.OrderBy(_ => Guid.NewGuid()))
                            client.Release(new ReleaseRequest { Network = key.Network, ContainerId = key.ContainerId, IfName = key.IfName });
                    }
                    catch (AgentException)
                    {
                        // killed under us
                    }
                });
                var before = Directory.GetFiles(_fx.Path("allocations"), "*.json").Length;
                releasing.Start();
                // Once DELs are flowing (the first ones JIT), kill at a random instant among them.
                Eventually.True(() => before == 0 || Directory.GetFiles(_fx.Path("allocations"), "*.json").Length < before, "the first DEL done");
                Thread.Sleep(random.Next(0, 15));
                agent.Kill();
                agent.WaitForExit();
                releasing.Join();
            }
            finally
            {
                if (!agent.HasExited)
                    agent.Kill();
            }

            var quarantinedBefore = _fx.Events("state.quarantined").Count;
            using (var state = StateDirectory.Open(_fx.StatePath, _fx.Log, TimeProvider.System))
            {
                var store = AllocationStore.Open(state);
                var cooldown = IpCooldown.Open(state, TimeSpan.FromHours(1));
                var queue = TeardownQueue.Open(state, (_, _) => Task.CompletedTask); // not started
                // A released IP's teardown is still queued, or the agent ran it (its log says so).
                var devices = queue.Pending().Select(p => p.Job.Device).Concat(TeardownsDone()).ToHashSet();
                foreach (var (key, ip) in seeded)
                {
                    if (store.TryGet(key, out _))
                        continue;
                    Assert.True(cooldown.IsCooling(ip), $"{ip} was released without its cooldown (round {round})");
                    Assert.Contains(StateFixture.Shared(ip).HostVeth, devices);
                }
                Assert.Equal(quarantinedBefore, _fx.Events("state.quarantined").Count);
                remaining.Add(store.Count);
            }
        }
        // The kills must have landed mid-stream, or this proved nothing.
        Assert.Contains(remaining, n => n is > 0 and < 59);
    }
}
