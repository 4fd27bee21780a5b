using System.Text.Json;
using Fathom.Agent.State;

namespace Fathom.Agent.Teardown;

/// <summary>
/// The agent's durable, serial queue of slow kernel work (DESIGN §4): DEL records a job here and
/// returns; one background worker runs the jobs in the order they were recorded, one at a time (the
/// kernel serializes netns moves under RTNL anyway), and removes each job's file once it succeeded.
/// A failed job is retried with exponential backoff on the injected <see cref="TimeProvider"/>, and
/// does not hold up jobs behind it while it waits. Jobs outlive restarts: a job recorded before a
/// crash runs after it. An ADD that needs a device name still being given back waits for it.
/// </summary>
public sealed class TeardownQueue : IAsyncDisposable
{
    private readonly StateDirectory _state;
    private readonly string _directory;
    private readonly TeardownExecutor _executor;
    private readonly TeardownQueueOptions _options;
    private readonly Lock _gate = new();
    private readonly SortedDictionary<long, Entry> _jobs = [];
    private readonly Dictionary<string, TaskCompletionSource> _deviceWaiters = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _nextSequence = 1;
    private Task? _worker;

    private sealed class Entry(TeardownJob job, string path)
    {
        public TeardownJob Job { get; } = job;
        public string Path { get; } = path;
        public int Attempts { get; set; }
        public string? LastError { get; set; }
        public DateTimeOffset NotBefore { get; set; } = DateTimeOffset.MinValue;
    }

    private TeardownQueue(StateDirectory state, TeardownExecutor executor, TeardownQueueOptions options)
    {
        _state = state;
        _executor = executor;
        _options = options;
        _directory = state.Subdirectory("teardown");
    }

    /// <summary>Loads the jobs recorded in <paramref name="state"/>. Nothing runs until <see cref="Start"/>.</summary>
    public static TeardownQueue Open(StateDirectory state, TeardownExecutor executor, TeardownQueueOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(executor);
        var queue = new TeardownQueue(state, executor, options ?? new TeardownQueueOptions());
        queue.Load();
        return queue;
    }

    /// <summary>
    /// Raised on the worker after a job is done and its record gone (<see cref="Pending"/> no longer lists
    /// it): for what must look again once a device is back, such as the host provider's claims of NICs
    /// unplugged while their return was pending. A handler that throws is logged, not fatal.
    /// </summary>
    public event Action<TeardownJob>? Done;

    /// <summary>Jobs not yet done, in order, with their retry state.</summary>
    public IReadOnlyList<TeardownJobStatus> Pending()
    {
        lock (_gate)
            return [.. _jobs.Values.Select(p => new TeardownJobStatus(p.Job, p.Attempts, p.LastError, p.NotBefore))];
    }

    /// <summary>The shared pods' IPs whose teardown (rules, veth) is not yet done: not to be handed out again before it is.</summary>
    public HashSet<string> PendingPodIps()
    {
        lock (_gate)
            return [.. _jobs.Values.Select(p => p.Job.PodIp).OfType<string>()];
    }

    /// <summary>Whether a job that gives back <paramref name="device"/> is not yet done.</summary>
    public bool IsPending(string device)
    {
        lock (_gate)
            return _jobs.Values.Any(p => p.Job.Device == device);
    }

    /// <summary>Starts the background worker.</summary>
    public void Start()
    {
        lock (_gate)
            _worker ??= Task.Run(RunAsync);
    }

    /// <summary>
    /// Records <paramref name="job"/> durably (its <see cref="TeardownJob.Sequence"/> and
    /// <see cref="TeardownJob.EnqueuedAt"/> are assigned here) and wakes the worker. Returns once the
    /// job is on disk: a crash after this runs the job after the restart.
    /// </summary>
    public TeardownJob Enqueue(TeardownJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentException.ThrowIfNullOrEmpty(job.Device);
        lock (_gate)
        {
            var recorded = job with { Sequence = _nextSequence, EnqueuedAt = _state.Time.GetUtcNow() };
            var path = Path.Combine(_directory, $"{recorded.Sequence:D19}.json");
            _state.WriteAtomically(path, JsonSerializer.SerializeToUtf8Bytes(recorded, StateJsonContext.Default.TeardownJob));
            _nextSequence++;
            _jobs.Add(recorded.Sequence, new Entry(recorded, path));
            _state.Log.Info("teardown.queued", $"queued {Describe(recorded)}",
                ("sequence", recorded.Sequence), ("device", recorded.Device), ("action", recorded.Action.ToString()));
            _wake.TrySetResult();
            return recorded;
        }
    }

    /// <summary>
    /// Completes when no job that gives back <paramref name="device"/> is pending (at once if none is):
    /// what an ADD awaits before it uses a device name a DEL just handed to the queue.
    /// </summary>
    public Task WaitForDeviceAsync(string device, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (!_jobs.Values.Any(p => p.Job.Device == device))
                return Task.CompletedTask;
            if (!_deviceWaiters.TryGetValue(device, out var waiter))
                _deviceWaiters[device] = waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return waiter.Task.WaitAsync(cancellationToken);
        }
    }

    private async Task RunAsync()
    {
        var stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            Entry? next = null;
            Task wake;
            TimeSpan? wait = null;
            DateTimeOffset deadline;
            lock (_gate)
            {
                var now = _state.Time.GetUtcNow();
                foreach (var pending in _jobs.Values)
                {
                    if (pending.NotBefore <= now)
                    {
                        next = pending;
                        break;
                    }
                    var left = pending.NotBefore - now;
                    if (wait is null || left < wait)
                        wait = left;
                }
                if (_wake.Task.IsCompleted)
                    _wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wake = _wake.Task;
                deadline = now + (wait ?? TimeSpan.Zero);
            }

            if (next is null)
            {
                using var timer = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                // The wait is taken from the deadline as the timer is made, and the deadline looked at once
                // more after: a clock that moved on since the reading above (a test's fake clock) must not
                // leave the job waiting past its backoff.
                var sleep = wait is null ? Task.Delay(Timeout.Infinite, timer.Token)
                    : Task.Delay(deadline - _state.Time.GetUtcNow() is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero, _state.Time, timer.Token);
                if (wait is null || _state.Time.GetUtcNow() < deadline)
                    await ((Task)Task.WhenAny(wake, sleep)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                await timer.CancelAsync().ConfigureAwait(false);
                continue;
            }

            try
            {
                await RunOneAsync(next, stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                // The worker must outlive any one job: a dead worker would leave every later
                // teardown, and every ADD waiting on one, stuck until a restart.
                lock (_gate)
                    Failed(next, e, "teardown.worker-error");
            }
        }
    }

    private async Task RunOneAsync(Entry pending, CancellationToken stopping)
    {
        var job = pending.Job;
        try
        {
            await _executor(job, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return; // stopping: the job stays on disk and runs after the restart
        }
        catch (Exception e)
        {
            lock (_gate)
                Failed(pending, e, "teardown.failed");
            return;
        }

        lock (_gate)
        {
            // Said before the record goes, so that a job is always either on disk or in the log as
            // done, whenever the agent dies (a job logged and still on disk just runs again).
            _state.Log.Info("teardown.done", $"done: {Describe(job)}", ("sequence", job.Sequence), ("device", job.Device));
            try
            {
                _state.DeleteDurably(pending.Path);
            }
            catch (IOException e)
            {
                // Done, but still recorded: it will run again (executors are idempotent).
                Failed(pending, new IOException($"done, but its record could not be removed: {e.Message}", e), "teardown.failed");
                return;
            }
            _jobs.Remove(job.Sequence);
            if (!_jobs.Values.Any(p => p.Job.Device == job.Device) && _deviceWaiters.Remove(job.Device, out var waiter))
                waiter.TrySetResult();
        }
        // Each handler on its own: one that throws neither stops the others nor the worker.
        foreach (var handler in Done?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<TeardownJob>)handler)(job);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _state.Log.Warning("teardown.done-handler-failed", $"after {Describe(job)}: {e.Message}",
                    ("sequence", job.Sequence), ("device", job.Device), ("error", e.Message));
            }
        }
    }

    /// <summary>Counts a failed attempt and schedules the next one. Call under the gate.</summary>
    private void Failed(Entry pending, Exception e, string eventName)
    {
        var job = pending.Job;
        pending.Attempts++;
        pending.LastError = e.Message;
        var backoff = Backoff(pending.Attempts);
        pending.NotBefore = _state.Time.GetUtcNow() + backoff;
        _state.Log.Warning(eventName,
            $"{Describe(job)} failed (attempt {pending.Attempts}), retrying in {backoff.TotalSeconds:0.###} s: {e.Message}",
            ("sequence", job.Sequence), ("device", job.Device), ("attempts", pending.Attempts), ("error", e.Message));
    }

    private TimeSpan Backoff(int attempts)
    {
        var factor = Math.Pow(2, Math.Min(attempts - 1, 30));
        var backoff = TimeSpan.FromTicks((long)Math.Min(_options.InitialBackoff.Ticks * factor, _options.MaxBackoff.Ticks));
        return backoff;
    }

    private void Load()
    {
        foreach (var path in _state.Files(_directory))
        {
            TeardownJob? job;
            try
            {
                var bytes = File.ReadAllBytes(path);
                if (StateDirectory.CheckHeader(bytes, TeardownJob.FileKind, TeardownJob.FormatVersion) is { } problem)
                {
                    _state.Quarantine(path, problem);
                    continue;
                }
                job = JsonSerializer.Deserialize(bytes, StateJsonContext.Default.TeardownJob);
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
            {
                _state.Quarantine(path, $"not a valid teardown job: {e.Message}");
                continue;
            }
            catch (IOException e)
            {
                _state.Log.Error("state.unreadable", $"cannot read {path}: {e.Message}; the job is not loaded", ("file", path));
                continue;
            }
            if (job is null || job.Sequence < 1 || string.IsNullOrEmpty(job.Device) || _jobs.ContainsKey(job.Sequence))
            {
                _state.Quarantine(path, "not a valid teardown job: no device, or a sequence number that is missing or taken");
                continue;
            }
            _jobs.Add(job.Sequence, new Entry(job, path));
            _nextSequence = Math.Max(_nextSequence, job.Sequence + 1);
        }
        _state.Log.Info("teardown.loaded", $"{_jobs.Count} teardown jobs left from before the restart", ("count", _jobs.Count));
    }

    private static string Describe(TeardownJob job) => job.Action switch
    {
        TeardownAction.ReturnEni => $"return ENI {job.EniId} to the host as {job.Device} (job {job.Sequence})",
        _ => $"delete veth {job.Device} (job {job.Sequence})",
    };

    /// <summary>Stops the worker; a job in progress is cancelled and stays on disk for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task? worker;
        lock (_gate)
            worker = _worker;
        if (worker is not null)
            await worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        lock (_gate)
        {
            foreach (var waiter in _deviceWaiters.Values)
                waiter.TrySetCanceled();
            _deviceWaiters.Clear();
        }
    }
}
