using System.Text;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;

namespace Fathom.Agent.Tests.State;

public sealed class AllocationStoreTests : IDisposable
{
    private readonly StateFixture _fx = new();
    private static readonly AttachmentKey Pod1 = new("net", "c1", "eth0");
    private static readonly AttachmentKey Pod2 = new("net", "c2", "eth0");

    public void Dispose() => _fx.Dispose();

    private AllocationStore Store() => AllocationStore.Open(_fx.State);

    private AllocationStore Restarted() => AllocationStore.Open(_fx.Restart());

    [Theory]
    [InlineData("10.0.1.9", "10.0.1.9")]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("255.255.255.255", "255.255.255.255")]
    [InlineData("10.0.0.05", "10.0.0.5")]
    [InlineData("010.0.0.1", "8.0.0.1")] // what IPAddress makes of a leading zero (octal), as before the fast path
    [InlineData("10.0.1", "10.0.0.1")]
    [InlineData("256.0.0.1", "256.0.0.1")]
    [InlineData("10.0.0.1.", "10.0.0.1.")]
    [InlineData("10..0.1", "10..0.1")]
    [InlineData("fd00:0::1", "fd00::1")]
    [InlineData("", "")]
    public void An_IP_has_one_spelling_whether_or_not_it_needed_parsing(string ip, string canonical) =>
        Assert.Equal(canonical, AllocationStore.CanonicalIp(ip));

    [Fact]
    public void Every_canonical_spelling_is_kept_as_IPAddress_writes_it()
    {
        var random = new Random(7);
        for (var i = 0; i < 5000; i++)
        {
            var text = new System.Net.IPAddress(random.NextInt64(0, 1L << 32)).ToString();
            Assert.Same(text, AllocationStore.CanonicalIp(text));
        }
    }

    [Fact]
    public void An_allocation_is_pending_then_committed_and_survives_a_restart()
    {
        var store = Store();
        var pod = new PodIdentity { Namespace = "default", Name = "web", Uid = "u1" };
        var reserved = store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"), pod, "/var/run/netns/p1");
        Assert.Equal(AllocationState.Pending, reserved.State);
        Assert.Equal(AllocationState.Pending, Restarted().All().Single().State);

        store = Restarted();
        var committed = store.Commit(Pod1);
        Assert.Equal(AllocationState.Committed, committed.State);
        Assert.Equal(_fx.Time.GetUtcNow(), committed.CommittedAt);

        var loaded = Restarted().All().Single();
        Assert.Equal(committed, loaded);
        Assert.Equal(pod, loaded.Pod);
        Assert.Equal("/var/run/netns/p1", loaded.NetnsPath);
    }

    [Fact]
    public void A_grant_is_one_durable_write_committed_at_once()
    {
        var store = Store();
        var steps = new List<string>();
        _fx.State.CrashPoint = steps.Add;
        var granted = store.Grant(Pod1, StateFixture.Shared("10.0.1.9"), null, "/var/run/netns/p1");
        _fx.State.CrashPoint = null;
        Assert.Equal(AllocationState.Committed, granted.State);
        Assert.Equal(_fx.Time.GetUtcNow(), granted.CommittedAt);
        Assert.Single(steps, s => s.Contains("rename", StringComparison.Ordinal)); // one write, not pending and then committed
        Assert.Equal(granted, Restarted().All().Single());

        // The same ADD again gets the same record; another allocation for it, or its IP for another, is refused.
        store = Restarted();
        Assert.Equal(granted, store.Grant(Pod1, StateFixture.Shared("10.0.1.9")));
        Assert.Throws<AllocationConflictException>(() => store.Grant(Pod1, StateFixture.Shared("10.0.1.10")));
        Assert.Throws<AllocationConflictException>(() => store.Grant(Pod2, StateFixture.Shared("10.0.1.9")));

        // A reservation granted again is committed.
        store.Reserve(Pod2, StateFixture.Shared("10.0.1.11"));
        Assert.Equal(AllocationState.Committed, store.Grant(Pod2, StateFixture.Shared("10.0.1.11")).State);
        Assert.All(Restarted().All(), r => Assert.Equal(AllocationState.Committed, r.State));
    }

    [Fact]
    public void Release_is_durable_and_idempotent()
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
        Assert.True(store.TryRelease(Pod1, out var released));
        Assert.Equal("10.0.1.9", released.Allocation.Ip);
        Assert.False(store.TryRelease(Pod1, out _));
        Assert.Equal(0, Restarted().Count);
        Assert.Empty(Directory.GetFiles(_fx.Path("allocations")));
    }

    [Fact]
    public void An_underlay_pods_node_routes_are_recorded_durably_and_nothing_else_changes()
    {
        var store = Store();
        var before = store.Grant(Pod1, StateFixture.Underlay("eni-1", "10.0.2.7"));
        var after = store.RecordNodeRoutes(Pod1, ["10.244.0.0/16"]);
        Assert.Equal(before.Allocation, ((UnderlayAllocation)after.Allocation) with { NodeRoutes = null });
        Assert.True(Restarted().TryGet(Pod1, out var read));
        Assert.Equal(["10.244.0.0/16"], ((UnderlayAllocation)read.Allocation).NodeRoutes);
        Assert.True(store.IsEniHeldWhole("eni-1"));
        Assert.Null(((UnderlayAllocation)store.RecordNodeRoutes(Pod1, []).Allocation).NodeRoutes);

        store.Grant(Pod2, StateFixture.Shared("10.0.1.9"));
        Assert.Throws<InvalidOperationException>(() => store.RecordNodeRoutes(Pod2, ["10.244.0.0/16"]));
        Assert.Throws<KeyNotFoundException>(() => store.RecordNodeRoutes(new AttachmentKey("net", "gone", "eth0"), []));
        Assert.Throws<AgentException>(() => store.RecordNodeRoutes(Pod1, ["fd00::/64"]));
    }

    [Fact]
    public void The_same_ADD_again_gets_the_same_allocation()
    {
        var store = Store();
        var first = store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
        Assert.Same(first, store.Reserve(Pod1, StateFixture.Shared("10.0.1.9")));
        var e = Assert.Throws<AllocationConflictException>(() => store.Reserve(Pod1, StateFixture.Shared("10.0.1.10")));
        Assert.Contains("net/c1/eth0 already holds IP 10.0.1.9/32", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void One_IP_never_goes_to_two_attachments()
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
        var e = Assert.Throws<AllocationConflictException>(() => store.Reserve(Pod2, StateFixture.Shared("10.0.1.9", eni: "eni-bbbb")));
        Assert.Contains("10.0.1.9 is held by net/c1/eth0", e.Message, StringComparison.Ordinal);
        Assert.True(store.TryGetByIp("10.0.1.9", out var holder));
        Assert.Equal(Pod1, holder.Key);
        Assert.False(store.TryGet(Pod2, out _));
        // Nor after a restart.
        Assert.Throws<AllocationConflictException>(() => Restarted().Reserve(Pod2, StateFixture.Shared("10.0.1.9")));
    }

    [Fact]
    public void An_ENI_given_whole_to_a_pod_is_not_shared_and_a_shared_ENI_is_not_given_whole()
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Underlay("eni-u", "10.0.2.7"));
        Assert.True(store.IsEniInUse("eni-u"));
        var e = Assert.Throws<AllocationConflictException>(() => store.Reserve(Pod2, StateFixture.Shared("10.0.2.8", eni: "eni-u")));
        Assert.Contains("eni-u is in net/c1/eth0's pod", e.Message, StringComparison.Ordinal);

        store.Reserve(Pod2, StateFixture.Shared("10.0.1.9", eni: "eni-s"));
        store.Reserve(new AttachmentKey("net", "c3", "eth0"), StateFixture.Shared("10.0.1.10", eni: "eni-s"));
        var whole = Assert.Throws<AllocationConflictException>(() => store.Reserve(new AttachmentKey("net", "c4", "eth0"), StateFixture.Underlay("eni-s", "10.0.1.11")));
        Assert.Contains("eni-s carries 2 shared-mode IPs", whole.Message, StringComparison.Ordinal);

        store.TryRelease(Pod1, out _);
        Assert.False(store.IsEniInUse("eni-u"));
        store.Reserve(new AttachmentKey("net", "c5", "eth0"), StateFixture.Underlay("eni-u", "10.0.2.7"));
    }

    [Fact]
    public void The_shared_IPs_an_ENI_carries_are_counted_as_records_come_and_go_and_after_a_restart()
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Underlay("eni-u", "10.0.2.7"));
        store.Reserve(Pod2, StateFixture.Shared("10.0.1.9", eni: "eni-s"));
        store.Reserve(new AttachmentKey("net", "c3", "eth0"), StateFixture.Shared("10.0.1.10", eni: "eni-s"));
        Assert.Equal((0, 2, 0), (store.SharedIpsOn("eni-u"), store.SharedIpsOn("eni-s"), store.SharedIpsOn("eni-none")));

        store.TryRelease(Pod2, out _);
        Assert.Equal(1, store.SharedIpsOn("eni-s"));
        Assert.Equal(1, Restarted().SharedIpsOn("eni-s"));
    }

    [Fact]
    public void Keys_cannot_name_paths_outside_the_folder()
    {
        var store = Store();
        var hostile = new AttachmentKey("../..", "../../etc/passwd", "a~b%c");
        store.Reserve(hostile, StateFixture.Shared("10.0.1.9"));
        var file = Assert.Single(Directory.GetFiles(_fx.Path("allocations")));
        Assert.Equal("%2E.%2F..~%2E.%2F..%2Fetc%2Fpasswd~a%7Eb%25c.json", Path.GetFileName(file));
        Assert.Equal(hostile, Restarted().All().Single().Key);
    }

    public static TheoryData<string, bool> ReserveCrashPoints() => new()
    {
        { "write-temporary", false },
        { "fsync-temporary", false },
        { "rename", false },
        { "fsync-directory", true },
    };

    [Theory]
    [MemberData(nameof(ReserveCrashPoints))]
    public void A_crash_during_reserve_leaves_the_reservation_whole_or_absent(string step, bool recorded)
    {
        var store = Store();
        _fx.State.CrashPoint = s => { if (s == step) throw new SimulatedCrash(s); };
        Assert.Throws<SimulatedCrash>(() => store.Reserve(Pod1, StateFixture.Shared("10.0.1.9")));

        store = Restarted();
        Assert.Equal(recorded, store.TryGet(Pod1, out var record));
        if (recorded)
        {
            // Recorded, so the IP is taken: the plugin never heard of it, the reconcile frees it.
            Assert.Equal(AllocationState.Pending, record!.State);
            Assert.Throws<AllocationConflictException>(() => store.Reserve(Pod2, StateFixture.Shared("10.0.1.9")));
        }
        else
        {
            store.Reserve(Pod2, StateFixture.Shared("10.0.1.9"));
        }
        Assert.Empty(Directory.GetFiles(_fx.Path("allocations"), "*.tmp"));
    }

    [Theory]
    [InlineData("delete", true)]
    [InlineData("fsync-directory", false)]
    public void A_crash_during_release_leaves_the_allocation_held_or_released(string step, bool stillHeld)
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
        store.Commit(Pod1);
        _fx.State.CrashPoint = s => { if (s == step) throw new SimulatedCrash(s); };
        Assert.Throws<SimulatedCrash>(() => store.TryRelease(Pod1, out _));
        Assert.Equal(stillHeld, Restarted().TryGet(Pod1, out _));
    }

    [Fact]
    public void A_crash_during_commit_leaves_it_pending_or_committed_never_lost()
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
        _fx.State.CrashPoint = s => { if (s == "rename") throw new SimulatedCrash(s); };
        Assert.Throws<SimulatedCrash>(() => store.Commit(Pod1));
        Assert.True(Restarted().TryGet(Pod1, out var record));
        Assert.Equal(AllocationState.Pending, record.State);
    }

    [Fact]
    public void Unreadable_files_are_quarantined_with_a_log_line_and_the_rest_loads()
    {
        var store = Store();
        store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
        store.Commit(Pod1);
        var good = Directory.GetFiles(_fx.Path("allocations")).Single();
        var text = File.ReadAllText(good);
        var dir = _fx.Path("allocations");
        File.WriteAllText(Path.Combine(dir, "truncated.json"), text[..(text.Length / 2)]);
        File.WriteAllBytes(Path.Combine(dir, "garbage.json"), [0xFF, 0x00, 0x13, 0x37]);
        File.WriteAllText(Path.Combine(dir, "newer.json"), text.Replace("\"version\": 1", "\"version\": 7", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(dir, "stranger.json"), """{"kind":"something-else","version":1}""");
        File.WriteAllText(Path.Combine(dir, "twin.json"), text.Replace("\"c1\"", "\"c9\"", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(dir, "bad-ip.json"), text.Replace("10.0.1.9/32", "10.0.1.300/32", StringComparison.Ordinal).Replace("\"c1\"", "\"c8\"", StringComparison.Ordinal));
        File.WriteAllText(Path.Combine(dir, "half-written.json.tmp"), "{");

        store = Restarted();

        Assert.Equal(Pod1, store.All().Single().Key);
        var quarantined = _fx.Events("state.quarantined");
        Assert.Equal(6, quarantined.Count);
        Assert.Contains(quarantined, e => e.GetProperty("reason").GetString()!.Contains("written by a newer fathom-agent (format version 7", StringComparison.Ordinal));
        Assert.Contains(quarantined, e => e.GetProperty("reason").GetString()!.Contains("truncated or corrupt", StringComparison.Ordinal));
        Assert.Contains(quarantined, e => e.GetProperty("reason").GetString()!.Contains("which another record already holds", StringComparison.Ordinal));
        Assert.Equal(6, Directory.GetFiles(_fx.Path("quarantine")).Length);
        Assert.Single(_fx.Events("state.stray-removed"));
        Assert.Single(Directory.GetFiles(dir));
    }

    [Fact]
    public void Without_fsync_writes_are_the_same_files_and_survive_a_restart()
    {
        using (var state = StateDirectory.Open(_fx.Path("nosync"), _fx.Log, _fx.Time, syncWrites: false))
        {
            Assert.False(state.SyncWrites);
            var store = AllocationStore.Open(state);
            store.Reserve(Pod1, StateFixture.Shared("10.0.1.9"));
            store.Commit(Pod1);
            store.Reserve(Pod2, StateFixture.Shared("10.0.1.10"));
            Assert.True(store.TryRelease(Pod2, out _));
        }
        using var reopened = StateDirectory.Open(_fx.Path("nosync"), _fx.Log, _fx.Time);
        Assert.Equal(AllocationState.Committed, AllocationStore.Open(reopened).All().Single().State);
    }

    [Fact]
    public void A_second_agent_cannot_open_the_same_state()
    {
        _ = _fx.State;
        var e = Assert.Throws<InvalidOperationException>(() => StateDirectory.Open(_fx.StatePath));
        Assert.Contains("another fathom-agent holds the state directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void State_files_are_readable_JSON_for_operators_and_owner_only()
    {
        Store().Reserve(Pod1, StateFixture.Underlay("eni-u", "10.0.2.7"));
        var file = Directory.GetFiles(_fx.Path("allocations")).Single();
        var text = File.ReadAllText(file, Encoding.UTF8);
        Assert.Contains("\"kind\": \"fathom-agent-allocation\"", text, StringComparison.Ordinal);
        Assert.Contains("\"state\": \"pending\"", text, StringComparison.Ordinal);
        Assert.Contains("\"mode\": \"underlay\"", text, StringComparison.Ordinal);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_fx.StatePath));
    }
}

/// <summary>Thrown by a crash point: the process "dies" there, nothing after it runs.</summary>
public sealed class SimulatedCrash(string step) : Exception($"simulated crash at {step}");

public sealed class AllocationStoreConcurrencyTests : IDisposable
{
    private readonly StateFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    [Fact]
    public void Racing_reservations_give_each_IP_to_exactly_one_attachment_also_after_a_restart()
    {
        var store = AllocationStore.Open(_fx.State);
        var won = new System.Collections.Concurrent.ConcurrentBag<(AttachmentKey Key, string Ip)>();
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, worker =>
        {
            for (var i = 0; i < 30; i++)
            {
                var ip = $"10.0.1.{(worker * 7 + i) % 20 + 1}";
                var key = new AttachmentKey("net", $"w{worker}-{i}", "eth0");
                try
                {
                    store.Reserve(key, StateFixture.Shared(ip));
                    won.Add((key, ip));
                }
                catch (AllocationConflictException)
                {
                }
            }
        });
        Assert.Equal(20, won.Count);
        Assert.Equal(20, won.Select(w => w.Ip).Distinct().Count());
        var reloaded = AllocationStore.Open(_fx.Restart()).All();
        Assert.Equal(won.Select(w => (w.Key, w.Ip)).OrderBy(w => w.Ip), reloaded.Select(r => (r.Key, r.Allocation.Ip)).OrderBy(w => w.Ip));
    }
}
