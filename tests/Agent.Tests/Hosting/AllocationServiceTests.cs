using Fathom.Agent.Hosting;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;

namespace Fathom.Agent.Tests.Hosting;

public sealed class AllocationServiceTests : IAsyncLifetime
{
    private readonly StateFixture _fx = new();
    private readonly AllocationStore _store;
    private readonly IpCooldown _cooldown;
    private readonly TeardownQueue _teardown;
    private readonly AllocationService _service;
    private static readonly AttachmentKey SharedPod = new("net", "c1", "eth0");
    private static readonly AttachmentKey UnderlayPod = new("net", "c2", "eth0");

    public AllocationServiceTests()
    {
        _store = AllocationStore.Open(_fx.State);
        _cooldown = IpCooldown.Open(_fx.State);
        _teardown = TeardownQueue.Open(_fx.State, (_, _) => Task.CompletedTask); // not started: jobs stay visible
        _service = new AllocationService(_store, _cooldown, _teardown, _fx.Log, _fx.Time) { AgentVersion = "t" };
        _store.Reserve(SharedPod, StateFixture.Shared("10.0.1.9"), new PodIdentity { Namespace = "default", Name = "web" }, "/var/run/netns/p1");
        _store.Commit(SharedPod);
        _store.Reserve(UnderlayPod, StateFixture.Underlay("eni-u", "10.0.2.7", device: "eth3"), netnsPath: "/var/run/netns/p2");
    }

    // xUnit 2 does not call IAsyncDisposable on test classes; IAsyncLifetime it does.
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _teardown.DisposeAsync();
        _fx.Dispose();
    }

    [Fact]
    public async Task An_ADD_already_recorded_gets_the_same_allocation()
    {
        var reply = await _service.AllocateAsync(new AllocateRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default);
        Assert.Equal(StateFixture.Shared("10.0.1.9"), Assert.IsType<AllocatedReply>(reply).Allocation);
    }

    [Fact]
    public async Task A_new_ADD_is_try_again_later_until_there_are_pools()
    {
        var reply = await _service.AllocateAsync(new AllocateRequest { Network = "net", ContainerId = "c9", IfName = "eth0" }, default);
        var error = Assert.IsType<ErrorReply>(reply);
        Assert.Equal(AgentErrorCode.TryAgainLater, error.Code);
        Assert.StartsWith("no cloud provider configured", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_DEL_whose_state_cannot_be_written_is_code_5_naming_it_and_releases_nothing()
    {
        _fx.State.CrashPoint = step => { if (step == "rename") throw new IOException("rename of x failed: No space left on device"); };
        var error = Assert.IsType<ErrorReply>(await _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default));
        Assert.Equal(AgentErrorCode.IoFailure, error.Code);
        Assert.Contains("cannot write its state while releasing", error.Message);
        Assert.Contains("No space left on device", error.Message);
        Assert.True(_store.TryGet(SharedPod, out _));

        // The disk is back: the runtime's retried DEL releases it.
        _fx.State.CrashPoint = null;
        Assert.IsType<DoneReply>(await _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default));
        Assert.False(_store.TryGet(SharedPod, out _));
    }

    [Fact]
    public async Task Releasing_a_shared_IP_cools_it_down_and_queues_its_veth()
    {
        Assert.IsType<DoneReply>(await _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default));
        Assert.False(_store.TryGet(SharedPod, out _));
        Assert.True(_cooldown.IsCooling("10.0.1.9"));
        var job = _teardown.Pending().Single().Job;
        Assert.Equal(TeardownAction.DeleteVeth, job.Action);
        Assert.Equal("fthv10019", job.Device);
        Assert.Equal("/var/run/netns/p1", job.NetnsPath);
        // DEL is idempotent.
        Assert.IsType<DoneReply>(await _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default));
        Assert.Single(_teardown.Pending());
    }

    [Fact]
    public async Task Releasing_an_ENI_queues_its_return_under_its_host_name()
    {
        await _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c2", IfName = "eth0" }, default);
        var job = _teardown.Pending().Single().Job;
        Assert.Equal(TeardownAction.ReturnEni, job.Action);
        Assert.Equal("eth3", job.Device);
        Assert.Equal("eni-u", job.EniId);
        Assert.Equal("0a:1b:2c:3d:4e:5f", job.Mac);
        Assert.Equal("eth0", job.PodIfName);
        Assert.Empty(_cooldown.Cooling()); // an ENI's primary IP goes with the ENI, no cooldown
    }

    [Fact]
    public async Task A_crash_after_the_teardown_is_recorded_but_before_the_release_keeps_the_allocation()
    {
        _fx.State.CrashPoint = s =>
        {
            if (s == "delete")
                throw new State.SimulatedCrash(s);
        };
        await Assert.ThrowsAsync<State.SimulatedCrash>(() => _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default).AsTask());
        var state = _fx.Restart();
        Assert.True(AllocationStore.Open(state).TryGet(SharedPod, out _)); // still held: no pod can get 10.0.1.9
        Assert.True(IpCooldown.Open(state).IsCooling("10.0.1.9"));
        await using var queue = TeardownQueue.Open(state, (_, _) => Task.CompletedTask);
        Assert.Single(queue.Pending());
    }

    [Fact]
    public async Task Check_knows_which_attachments_it_holds()
    {
        Assert.IsType<DoneReply>(await _service.CheckAsync(new CheckRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default));
        var error = Assert.IsType<ErrorReply>(await _service.CheckAsync(new CheckRequest { Network = "net", ContainerId = "c1", IfName = "eth1" }, default));
        Assert.Equal(AgentErrorCode.UnknownContainer, error.Code);
        Assert.Contains("net/c1/eth1", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GC_releases_what_the_runtime_no_longer_lists_on_that_network_only()
    {
        _store.Reserve(new AttachmentKey("other", "c7", "eth0"), StateFixture.Shared("10.0.1.77"));
        var reply = Assert.IsType<DoneReply>(await _service.GcAsync(new GcRequest
        {
            Network = "net", ValidAttachments = [new AttachmentRef { ContainerId = "c2", IfName = "eth0" }],
        }, default));
        Assert.Equal("c1", reply.Released.Single().ContainerId);
        Assert.Equal(["c2", "c7"], _store.All().Select(r => r.ContainerId).Order());
    }

    [Fact]
    public async Task Status_lists_allocations_pools_teardowns_and_cooling_IPs()
    {
        await _service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "c1", IfName = "eth0" }, default);
        var status = Assert.IsType<StatusReply>(await _service.StatusAsync(new StatusRequest(), default)).Status;
        Assert.Equal("t", status.AgentVersion);
        var only = status.Allocations.Single();
        Assert.Equal(("c2", "pending", AllocationMode.Underlay), (only.ContainerId, only.State, only.Allocation.Mode));
        Assert.Equal(1, status.Pools.Single(p => p.Mode == AllocationMode.Underlay).InUse);
        Assert.Equal(1, status.Pools.Single(p => p.Mode == AllocationMode.Shared).Cooling);
        Assert.Equal(1, status.PendingTeardowns);
        Assert.Equal(1, status.CoolingIps);
    }
}

public sealed class AllocationServiceValidationTests : IAsyncLifetime
{
    private readonly StateFixture _fx = new();
    private readonly TeardownQueue _teardown;
    private readonly AllocationService _service;

    public AllocationServiceValidationTests()
    {
        _teardown = TeardownQueue.Open(_fx.State, (_, _) => Task.CompletedTask);
        _service = new AllocationService(AllocationStore.Open(_fx.State), IpCooldown.Open(_fx.State), _teardown, _fx.Log, _fx.Time);
    }

    // xUnit 2 does not call IAsyncDisposable on test classes; IAsyncLifetime it does.
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _teardown.DisposeAsync();
        _fx.Dispose();
    }

    [Theory]
    [InlineData("", "c", "eth0", AgentErrorCode.InvalidConfig, "network name is empty")]
    [InlineData("n", "", "eth0", AgentErrorCode.InvalidEnvironment, "CNI_CONTAINERID is empty")]
    [InlineData("n", "c", "", AgentErrorCode.InvalidEnvironment, "CNI_IFNAME ''")]
    [InlineData("n", "c", "a-name-too-long-for-linux", AgentErrorCode.InvalidEnvironment, "not a valid interface name")]
    [InlineData("n", "c", "eth/0", AgentErrorCode.InvalidEnvironment, "not a valid interface name")]
    [InlineData("n", "c", "..", AgentErrorCode.InvalidEnvironment, "not a valid interface name")]
    public async Task What_CNI_would_refuse_is_refused_with_its_code(string network, string container, string ifName, AgentErrorCode code, string says)
    {
        var replies = new[]
        {
            await _service.AllocateAsync(new AllocateRequest { Network = network, ContainerId = container, IfName = ifName }, default),
            await _service.ReleaseAsync(new ReleaseRequest { Network = network, ContainerId = container, IfName = ifName }, default),
            await _service.CheckAsync(new CheckRequest { Network = network, ContainerId = container, IfName = ifName }, default),
        };
        foreach (var reply in replies)
        {
            var error = Assert.IsType<ErrorReply>(reply);
            Assert.Equal(code, error.Code);
            Assert.Contains(says, error.Message, StringComparison.Ordinal);
        }
    }
}
