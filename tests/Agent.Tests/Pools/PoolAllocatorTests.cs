using System.Net;
using System.Net.NetworkInformation;
using Fathom.Agent.Pools;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Teardown;
using Fathom.Cloud;

namespace Fathom.Agent.Tests.Pools;

/// <summary>
/// Takes and the code-11 sentences without a cloud: a pool loaded with ENIs as the cloud would
/// describe them, the fake clock of <see cref="StateFixture"/> driving the cooldown, no waiting.
/// </summary>
public sealed class PoolAllocatorTests : IAsyncLifetime
{
    private static readonly IPNetwork Subnet = IPNetwork.Parse("10.0.1.0/24");
    private readonly StateFixture _fx = new();
    private readonly AllocationStore _store;
    private readonly IpCooldown _cooldown;
    private readonly TeardownQueue _teardown;
    private readonly EniPool _pool;
    private readonly Refiller _refiller;

    public PoolAllocatorTests()
    {
        _store = AllocationStore.Open(_fx.State);
        _cooldown = IpCooldown.Open(_fx.State, TimeSpan.FromSeconds(30));
        _teardown = TeardownQueue.Open(_fx.State, (_, _) => Task.CompletedTask);
        var self = new InstanceIdentity("i-1", "m5.large", "us-east-1a", "us-east-1", "eni-0", Mac(0), "subnet-1", Subnet, ["sg-1"], "vpc-1", [Subnet]);
        _pool = new EniPool(self, new InstanceLimits("m5.large", 3, 4), _store, _cooldown, _teardown, new FakeNodeDevices(), _fx.Log)
        {
            UnderlayNodeRoutes = ["10.244.0.0/16", "10.245.0.0/16"], // a node that runs host-gw and overlay too
        };
        // Never started: no cloud behind it; the allocator only asks it why and wakes it.
        _refiller = new Refiller(_pool, null!, new RefillerOptions { Cluster = "c", NodeName = "n" }, _fx.Log, _fx.Time);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    // xunit v2 calls IAsyncLifetime, never IAsyncDisposable: as IAsyncDisposable this class left its
    // state directory (and its teardown worker) behind after every test.
    public async Task DisposeAsync()
    {
        await _teardown.DisposeAsync();
        _fx.Dispose();
    }

    private static PhysicalAddress Mac(int i) => PhysicalAddress.Parse($"02-00-00-00-00-{i:x2}");

    private static Eni Eni(int index, params string[] secondary) => new($"eni-{index}", Mac(index), IPAddress.Parse($"10.0.1.{10 + index}"),
        [.. secondary.Select(IPAddress.Parse)], "subnet-1", Subnet, ["sg-1"], EniAttachmentState.Attached, $"attach-{index}", "i-1", index, "", new Dictionary<string, string>());

    private PoolAllocator Allocator(bool fallback = false) =>
        new(_pool, _refiller, _teardown, new PoolAllocatorOptions { Timeout = TimeSpan.Zero, FallbackToShared = fallback }, _fx.Time);

    private static AllocateRequest Add(string id, AllocationMode mode, bool fallback = false) =>
        new() { Network = "net", ContainerId = id, IfName = "eth0", RequestedMode = mode, FallbackAllowed = fallback };

    [Fact]
    public async Task Shared_takes_pack_the_primary_skip_cooling_ips_and_never_hand_one_out_twice()
    {
        _pool.Load([Eni(0, "10.0.1.100", "10.0.1.101"), Eni(1, "10.0.1.110")]);
        var allocator = Allocator();
        var a = Assert.IsType<SharedAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("a", AllocationMode.Shared), default)).Allocation);
        Assert.Equal(("eni-0", 100, "10.0.1.1"), (a.EniId, a.RouteTable, a.Gateway));
        _cooldown.Start(a.Ip, a.EniId);
        _store.TryRelease(new AttachmentKey("net", "a", "eth0"), out _);

        var b = Assert.IsType<SharedAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("b", AllocationMode.Shared), default)).Allocation);
        var c = Assert.IsType<SharedAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("c", AllocationMode.Shared), default)).Allocation);
        Assert.Equal("10.0.1.101", b.Ip);
        Assert.Equal(("10.0.1.110", 101), (c.Ip, c.RouteTable));
        var none = Assert.IsType<ErrorReply>(await allocator.AllocateAsync(Add("d", AllocationMode.Shared), default));
        Assert.Equal(AgentErrorCode.TryAgainLater, none.Code);
        Assert.Contains("IPs cooling: 1", none.Message, StringComparison.Ordinal);

        _fx.Time.Advance(TimeSpan.FromSeconds(31));
        var d = Assert.IsType<SharedAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("d", AllocationMode.Shared), default)).Allocation);
        Assert.Equal(a.Ip, d.Ip);
    }

    [Fact]
    public async Task An_ADD_whose_record_cannot_be_written_is_code_5_logged_and_holds_nothing()
    {
        _pool.Load([Eni(0, "10.0.1.100"), Eni(1)]);
        var allocator = Allocator();
        _fx.State.CrashPoint = step => { if (step == "rename") throw new IOException("rename of x failed: No space left on device"); };
        var error = Assert.IsType<ErrorReply>(await allocator.AllocateAsync(Add("a", AllocationMode.Shared), default));
        Assert.Equal(AgentErrorCode.IoFailure, error.Code);
        Assert.Equal("fathom-agent cannot write its state while allocating net/a/eth0: rename of x failed: No space left on device", error.Message);
        Assert.Single(_fx.Events("state.write-failed"));
        Assert.False(_store.IsIpHeld("10.0.1.100"));

        // The disk is back: the runtime's retried ADD gets the IP.
        _fx.State.CrashPoint = null;
        var shared = Assert.IsType<SharedAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("a", AllocationMode.Shared), default)).Allocation);
        Assert.Equal("10.0.1.100", shared.Ip);
    }

    [Fact]
    public void A_reload_keeps_what_changed_here_while_the_clouds_description_was_on_its_way()
    {
        // A reconcile's describe went out before the refiller attached eni-2, released eni-1 and took
        // an IP off eni-0 to unassign it; it comes back describing the instance as it was before.
        _pool.Load([Eni(0, "10.0.1.100", "10.0.1.101"), Eni(1)]);
        Eni[] described = [Eni(0, "10.0.1.100", "10.0.1.101"), Eni(1)];
        using (var reload = _pool.BeginReload())
        {
            _pool.Add(Eni(2));
            _pool.Remove("eni-1");
            var unassigning = Assert.Single(_pool.TakeForUnassign("eni-0", 1));
            _pool.Load(described, reload);

            // eni-2 is not forgotten (its device index would be tried again), eni-1 not brought back,
            // and the IP being unassigned is not free again for a pod to take.
            Assert.Equal(["eni-0", "eni-2"], _pool.Enis().Select(e => e.EniId));
            Assert.DoesNotContain(unassigning.ToString(), _pool.Find("eni-0")!.SecondaryIps);
        }
        // With no reload under way, a description is the truth again.
        _pool.Load(described);
        Assert.Equal(["eni-0", "eni-1"], _pool.Enis().Select(e => e.EniId));
        Assert.Equal(2, _pool.Find("eni-0")!.SecondaryIps.Count);
    }

    [Fact]
    public void A_change_made_before_a_reload_began_is_not_kept_against_the_description()
    {
        _pool.Load([Eni(0), Eni(1)]);
        _pool.Remove("eni-1"); // before the describe went out: the description knows better
        using var reload = _pool.BeginReload();
        _pool.Load([Eni(0), Eni(1)], reload);
        Assert.Equal(["eni-0", "eni-1"], _pool.Enis().Select(e => e.EniId));
    }

    [Fact]
    public async Task An_underlay_pod_is_given_the_subnet_modes_cidrs_to_reach_through_its_node()
    {
        _pool.Load([Eni(0), Eni(1)]);
        var underlay = Assert.IsType<UnderlayAllocation>(Assert.IsType<AllocatedReply>(await Allocator().AllocateAsync(Add("u1", AllocationMode.Underlay), default)).Allocation);
        Assert.Equal(["10.244.0.0/16", "10.245.0.0/16"], underlay.NodeRoutes);
    }

    [Fact]
    public async Task An_eni_held_whole_or_being_returned_is_neither_taken_again_nor_used_for_ips()
    {
        _pool.Load([Eni(0), Eni(1), Eni(2, "10.0.1.120")]);
        var allocator = Allocator();
        var first = Assert.IsType<UnderlayAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("u1", AllocationMode.Underlay), default)).Allocation);
        Assert.Equal(("eni-1", "10.0.1.11/24", "02:00:00:00:00:01"), (first.EniId, first.Address, first.Mac)); // the one carrying no IPs first
        var second = Assert.IsType<UnderlayAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("u2", AllocationMode.Underlay), default)).Allocation);
        Assert.Equal("eni-2", second.EniId);
        // eni-2's IP went with it: no shared pod may get it.
        var shared = Assert.IsType<ErrorReply>(await allocator.AllocateAsync(Add("s1", AllocationMode.Shared), default));
        Assert.Equal(AgentErrorCode.TryAgainLater, shared.Code);

        var limit = Assert.IsType<ErrorReply>(await allocator.AllocateAsync(Add("u3", AllocationMode.Underlay), default));
        Assert.Contains("the instance's ENI limit is reached (AttachmentLimitExceeded: 3 ENIs attached, m5.large allows 3)", limit.Message, StringComparison.Ordinal);

        // DEL of u1: its return is recorded, not yet run (the teardown worker is not started): eni-1 is not warm yet.
        var service = new Fathom.Agent.Hosting.AllocationService(_store, _cooldown, _teardown, _fx.Log, _fx.Time);
        await service.ReleaseAsync(new ReleaseRequest { Network = "net", ContainerId = "u1", IfName = "eth0" }, default);
        Assert.IsType<ErrorReply>(await allocator.AllocateAsync(Add("u3", AllocationMode.Underlay), default));
        _teardown.Start();
        Eventually.True(() => _teardown.Pending().Count == 0, "the return ran");
        var again = Assert.IsType<UnderlayAllocation>(Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("u3", AllocationMode.Underlay), default)).Allocation);
        Assert.Equal("eni-1", again.EniId);
    }

    [Fact]
    public async Task Past_the_eni_limit_fallback_gives_a_shared_ip_only_when_the_request_allows_it()
    {
        _pool.Load([Eni(0, "10.0.1.100"), Eni(1), Eni(2)]);
        var allocator = Allocator(fallback: true);
        Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("u1", AllocationMode.Underlay), default));
        Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("u2", AllocationMode.Underlay), default));
        Assert.IsType<ErrorReply>(await allocator.AllocateAsync(Add("u3", AllocationMode.Underlay, fallback: false), default));
        var fell = Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add("u3", AllocationMode.Underlay, fallback: true), default));
        Assert.Equal("10.0.1.100/32", Assert.IsType<SharedAllocation>(fell.Allocation).Address);
    }

    [Fact]
    public async Task A_refill_hold_tells_the_pools_once_takes_pause_and_never_later_than_its_maximum()
    {
        _pool.Load([Eni(0, "10.0.1.100", "10.0.1.101", "10.0.1.102"), Eni(1, "10.0.1.110", "10.0.1.111", "10.0.1.112"),
            Eni(2, "10.0.1.120", "10.0.1.121", "10.0.1.122")]);
        var told = 0;
        _pool.Changed += () => Interlocked.Increment(ref told);
        var allocator = new PoolAllocator(_pool, _refiller, _teardown, new PoolAllocatorOptions
        {
            Timeout = TimeSpan.Zero,
            RefillHold = TimeSpan.FromMilliseconds(100),
            RefillHoldMax = TimeSpan.FromMilliseconds(250),
        }, _fx.Time);
        async Task Take(string id) =>
            Assert.IsType<AllocatedReply>(await allocator.AllocateAsync(Add(id, AllocationMode.Shared), default));

        // A burst: each take pushes the refill back; it comes 100 ms after the last one.
        await Take("a");
        _fx.Time.Advance(TimeSpan.FromMilliseconds(60));
        await Take("b");
        _fx.Time.Advance(TimeSpan.FromMilliseconds(60));
        Assert.Equal(0, Volatile.Read(ref told));
        _fx.Time.Advance(TimeSpan.FromMilliseconds(40));
        Assert.Equal(1, Volatile.Read(ref told));

        // Takes that never pause: told 250 ms after the first all the same (after the last take too).
        for (var i = 0; i < 5; i++)
        {
            await Take($"c{i}");
            _fx.Time.Advance(TimeSpan.FromMilliseconds(60));
        }
        Assert.Equal(2, Volatile.Read(ref told));
        _fx.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(2, Volatile.Read(ref told));

        // The next take arms it again.
        await Take("d");
        _fx.Time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(3, Volatile.Read(ref told));
    }
}
