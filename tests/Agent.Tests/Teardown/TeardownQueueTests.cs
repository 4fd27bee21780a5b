using Fathom.Agent.Teardown;
using Fathom.Agent.Tests.State;

namespace Fathom.Agent.Tests.Teardown;

public sealed class TeardownQueueTests : IAsyncLifetime
{
    private readonly StateFixture _fx = new();
    private readonly List<TeardownQueue> _queues = [];
    private readonly List<string> _ran = [];

    // xUnit 2 does not call IAsyncDisposable on test classes; IAsyncLifetime it does.
    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var queue in _queues)
            await queue.DisposeAsync();
        _fx.Dispose();
    }

    private TeardownQueue Open(TeardownExecutor? executor = null, bool start = true)
    {
        var queue = TeardownQueue.Open(_fx.State, executor ?? Record);
        _queues.Add(queue);
        if (start)
            queue.Start();
        return queue;
    }

    private Task Record(TeardownJob job, CancellationToken cancellationToken)
    {
        lock (_ran)
            _ran.Add(job.Device);
        return Task.CompletedTask;
    }

    private string[] Ran()
    {
        lock (_ran)
            return [.. _ran];
    }

    private static TeardownJob Veth(string name) => new() { Action = TeardownAction.DeleteVeth, Device = name };

    private static TeardownJob Eni(string device) => new()
    {
        Action = TeardownAction.ReturnEni, Device = device, EniId = "eni-" + device, Mac = "0a:00:00:00:00:01",
        NetnsPath = "/var/run/netns/p", PodIfName = "eth0",
    };

    private string[] JobFiles() => Directory.GetFiles(_fx.Path("teardown"));

    [Fact]
    public void Jobs_run_one_at_a_time_in_the_order_they_were_recorded()
    {
        var inside = 0;
        var overlapped = false;
        var queue = Open(async (job, ct) =>
        {
            if (Interlocked.Increment(ref inside) > 1)
                overlapped = true;
            await Task.Yield();
            await Record(job, ct);
            Interlocked.Decrement(ref inside);
        }, start: false);
        for (var i = 0; i < 20; i++)
            queue.Enqueue(i % 2 == 0 ? Veth($"veth{i}") : Eni($"eth{i}"));
        queue.Start();
        Eventually.True(() => Ran().Length == 20, "all 20 jobs ran");
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? $"veth{i}" : $"eth{i}"), Ran());
        Assert.False(overlapped);
        Eventually.True(() => JobFiles().Length == 0, "the job files are removed once done");
    }

    [Fact]
    public void Done_is_raised_once_the_jobs_record_is_gone_and_a_throwing_handler_harms_no_other()
    {
        var queue = Open(start: false);
        var seen = new List<(string Device, int PendingThen, int FilesThen)>();
        queue.Done += job => throw new InvalidOperationException("a handler's bug");
        queue.Done += job => { lock (seen) seen.Add((job.Device, queue.Pending().Count, JobFiles().Length)); };
        queue.Enqueue(Eni("eth1"));
        queue.Enqueue(Veth("veth2"));
        queue.Start();
        Eventually.True(() => { lock (seen) return seen.Count == 2; }, "Done for both jobs");
        // In order; when Done for eth1 ran, only veth2 was left, on disk and in Pending.
        Assert.Equal([("eth1", 1, 1), ("veth2", 0, 0)], seen);
        Assert.Equal(2, _fx.Events("teardown.done-handler-failed").Count);
        Assert.Empty(_fx.Events("teardown.failed"));
    }

    [Fact]
    public async Task A_job_recorded_before_a_crash_runs_after_the_restart()
    {
        var queue = Open(start: false);
        var job = queue.Enqueue(Eni("eth3"));
        Assert.Equal(1, job.Sequence);
        Assert.Single(JobFiles());

        _fx.Restart(); // the agent dies before the worker ran the job
        var restarted = Open(start: false);
        var pending = restarted.Pending().Single();
        Assert.Equal(job, pending.Job);
        Assert.Equal(2, restarted.Enqueue(Veth("fthv1")).Sequence); // numbering goes on, never reuses
        restarted.Start();
        Eventually.True(() => Ran().Length == 2, "both jobs ran");
        Assert.Equal(["eth3", "fthv1"], Ran());
    }

    [Fact]
    public async Task A_job_cut_short_by_a_stop_stays_recorded_and_runs_again()
    {
        var started = new TaskCompletionSource();
        var queue = Open(async (job, ct) =>
        {
            started.TrySetResult();
            await Task.Delay(Timeout.Infinite, ct);
        });
        queue.Enqueue(Eni("eth3"));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await queue.DisposeAsync();
        _queues.Remove(queue);
        Assert.Single(JobFiles());

        _fx.Restart();
        Open();
        Eventually.True(() => Ran().Length == 1, "the interrupted job ran after the restart");
        Eventually.True(() => JobFiles().Length == 0, "its file is removed");
    }

    [Fact]
    public void A_crash_before_the_job_file_is_renamed_leaves_no_job_and_no_temporary()
    {
        var queue = Open(start: false);
        _fx.State.CrashPoint = s => { if (s == "rename") throw new SimulatedCrash(s); };
        Assert.Throws<SimulatedCrash>(() => queue.Enqueue(Veth("fthv1")));
        _fx.Restart();
        var restarted = Open(start: false);
        Assert.Empty(restarted.Pending());
        Assert.Empty(JobFiles());
    }

    [Fact]
    public async Task An_ADD_waits_for_the_teardown_of_the_device_it_needs()
    {
        var release = new TaskCompletionSource();
        var queue = Open(async (job, ct) =>
        {
            if (job.Device == "eth3")
                await release.Task.WaitAsync(ct);
            await Record(job, ct);
        });
        Assert.True(queue.WaitForDeviceAsync("eth3").IsCompleted); // nothing pending: no wait

        queue.Enqueue(Eni("eth3"));
        queue.Enqueue(Veth("fthv1"));
        var eth3 = queue.WaitForDeviceAsync("eth3");
        var fthv1 = queue.WaitForDeviceAsync("fthv1");
        Assert.True(queue.IsPending("eth3"));
        await Task.Delay(100);
        Assert.False(eth3.IsCompleted);
        Assert.False(fthv1.IsCompleted); // serial: behind eth3

        release.SetResult();
        await eth3.WaitAsync(TimeSpan.FromSeconds(10));
        await fthv1.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(queue.IsPending("eth3"));
    }

    [Fact]
    public async Task A_wait_can_be_given_up()
    {
        var queue = Open(start: false);
        queue.Enqueue(Eni("eth3"));
        using var cancel = new CancellationTokenSource();
        var wait = queue.WaitForDeviceAsync("eth3", cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public async Task A_failing_job_is_retried_with_doubling_backoff_and_does_not_block_the_others()
    {
        var attempts = 0;
        var queue = Open(async (job, ct) =>
        {
            if (job.Device == "eth3" && Interlocked.Increment(ref attempts) <= 2)
                throw new IOException("RTNETLINK answers: Device or resource busy");
            await Record(job, ct);
        }, start: false);
        queue.Enqueue(Eni("eth3"));
        queue.Enqueue(Veth("fthv1"));
        queue.Start();

        Eventually.True(() => Ran().SequenceEqual(["fthv1"]), "the job behind the failing one ran");
        var status = queue.Pending().Single();
        Assert.Equal(1, status.Attempts);
        Assert.Contains("Device or resource busy", status.LastError, StringComparison.Ordinal);
        Assert.Equal(_fx.Time.GetUtcNow() + TimeSpan.FromMilliseconds(200), status.NotBefore);

        await Task.Delay(100);
        Assert.Equal(1, Volatile.Read(ref attempts)); // no retry before the fake clock moves
        _fx.Time.Advance(TimeSpan.FromMilliseconds(199));
        await Task.Delay(100);
        Assert.Equal(1, Volatile.Read(ref attempts));
        _fx.Time.Advance(TimeSpan.FromMilliseconds(1));
        Eventually.True(() => Volatile.Read(ref attempts) == 2, "the second attempt after 200 ms");

        Eventually.True(() => queue.Pending().Single().Attempts == 2, "the second failure recorded");
        _fx.Time.Advance(TimeSpan.FromMilliseconds(399));
        await Task.Delay(100);
        Assert.Equal(2, Volatile.Read(ref attempts));
        _fx.Time.Advance(TimeSpan.FromMilliseconds(1));
        Eventually.True(() => Ran().SequenceEqual(["fthv1", "eth3"]), "the third attempt after 400 more ms succeeded");
        Assert.Equal(2, _fx.Events("teardown.failed").Count);
        Eventually.True(() => JobFiles().Length == 0, "no job left on disk");
    }

    [Fact]
    public void Backoff_is_capped()
    {
        var capped = TeardownQueue.Open(_fx.State, (_, _) => throw new IOException("no"),
            new TeardownQueueOptions { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(3) });
        _queues.Add(capped);
        capped.Enqueue(Veth("fthv1"));
        capped.Start();
        foreach (var (attempt, backoff) in new[] { (1, 1), (2, 2), (3, 3), (4, 3) })
        {
            Eventually.True(() => capped.Pending().Single().Attempts == attempt, $"attempt {attempt} failed");
            Assert.Equal(_fx.Time.GetUtcNow() + TimeSpan.FromSeconds(backoff), capped.Pending().Single().NotBefore);
            _fx.Time.Advance(TimeSpan.FromSeconds(backoff));
        }
    }

    [Fact]
    public void Unreadable_job_files_are_quarantined_and_the_rest_run()
    {
        var queue = Open(start: false);
        queue.Enqueue(Veth("fthv1"));
        var dir = _fx.Path("teardown");
        File.WriteAllText(Path.Combine(dir, "0000000000000000007.json"), "{\"kind\":\"fathom-agent-teardown\",\"version\":1,\"seq");
        File.WriteAllText(Path.Combine(dir, "0000000000000000008.json"), "{\"kind\":\"fathom-agent-teardown\",\"version\":5,\"sequence\":8}");
        File.WriteAllText(Path.Combine(dir, "0000000000000000009.json"), "{\"kind\":\"fathom-agent-teardown\",\"version\":1,\"sequence\":9,\"action\":\"explode\",\"device\":\"x\"}");
        File.WriteAllText(Path.Combine(dir, "0000000000000000010.json.tmp"), "{");

        _fx.Restart();
        Open();
        Eventually.True(() => Ran().SequenceEqual(["fthv1"]), "the readable job ran");
        Assert.Equal(3, _fx.Events("state.quarantined").Count);
        Assert.Single(_fx.Events("state.stray-removed"));
    }
}

public sealed class TeardownQueueResilienceTests : IAsyncLifetime
{
    private readonly StateFixture _fx = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public Task DisposeAsync()
    {
        _fx.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task A_job_whose_record_cannot_be_removed_runs_again_and_the_worker_lives_on()
    {
        var runs = 0;
        await using var queue = TeardownQueue.Open(_fx.State, (_, _) => { Interlocked.Increment(ref runs); return Task.CompletedTask; });
        var failDelete = true;
        _fx.State.CrashPoint = step =>
        {
            if (step == "delete" && Volatile.Read(ref failDelete))
                throw new IOException("EIO");
        };
        queue.Enqueue(new TeardownJob { Action = TeardownAction.DeleteVeth, Device = "fthv1" });
        queue.Start();
        Eventually.True(() => queue.Pending().SingleOrDefault()?.Attempts == 1, "the failed removal counted as a failed attempt");
        Assert.Contains("could not be removed", queue.Pending().Single().LastError, StringComparison.Ordinal);

        Volatile.Write(ref failDelete, false);
        // Advanced until the job runs: a single step could land after the worker read the clock and
        // before it set its timer, which then waits from the new time (seen once under load).
        Eventually.True(() =>
        {
            _fx.Time.Advance(TimeSpan.FromMilliseconds(200));
            return queue.Pending().Count == 0;
        }, "the job ran again and its record went");
        Assert.Equal(2, Volatile.Read(ref runs));
        queue.Enqueue(new TeardownJob { Action = TeardownAction.DeleteVeth, Device = "fthv2" });
        Eventually.True(() => Volatile.Read(ref runs) == 3, "the worker still serves new jobs");
    }
}
