using System.Collections.Concurrent;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Cloud.Tests;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that remembers every timer asked of it (each Task.Delay on it
/// is one), so a test can move the clock exactly to the next one: backoff and rate-limit waits run
/// in no real time and their lengths can be asserted.
/// </summary>
internal sealed class SteppingTime : FakeTimeProvider
{
    private readonly ConcurrentQueue<TimeSpan> _pending = new();
    private readonly List<TimeSpan> _delays = [];

    public SteppingTime() : base(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { }

    /// <summary>Every finite timer due time requested so far, in order.</summary>
    public IReadOnlyList<TimeSpan> Delays
    {
        get { lock (_delays) return [.. _delays]; }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            lock (_delays) _delays.Add(dueTime);
            _pending.Enqueue(dueTime);
        }
        return base.CreateTimer(callback, state, dueTime, period);
    }

    /// <summary>Runs <paramref name="task"/> to the end, advancing the clock by each timer's due time as it is set.</summary>
    public async Task<T> DriveAsync<T>(Task<T> task)
    {
        var realDeadline = DateTime.UtcNow.AddSeconds(20);
        while (!task.IsCompleted)
        {
            if (_pending.TryDequeue(out var due)) Advance(due);
            else if (DateTime.UtcNow > realDeadline) throw new TimeoutException("the task neither finished nor set a timer");
            else await Task.Delay(1);
        }
        return await task;
    }

    public async Task DriveAsync(Task task) => await DriveAsync(task.ContinueWith(t => { t.GetAwaiter().GetResult(); return true; }, TaskScheduler.Default));
}
