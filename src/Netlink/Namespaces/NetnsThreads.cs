using System.Runtime.ExceptionServices;

namespace Fathom.Netlink;

/// <summary>
/// The threads <see cref="Netns.Run{T}(NetnsHandle, Func{T})"/> runs its actions on: threads that
/// run nothing else, kept parked between actions for <see cref="IdleLifetime"/>, one more started
/// whenever every one is busy (an action may wait — a lab's dhclient, a process start).
/// </summary>
/// <remarks>
/// A thread per action, as before, cost the agent more CPU than the work it carried: Thread.Start
/// returns only once the new thread runs, and waits for that by yielding in a loop, which on a busy
/// 2-core node spins while the cores it waits for run plugins (perf: 7–8 % of fathom-agent's CPU in
/// a bench cni run, most of it under the teardown's two sockets per returned ENI). Parking and
/// waking here never spin: a waiting thread sleeps in the kernel until it is signalled.
/// </remarks>
internal static class NetnsThreads
{
    /// <summary>How long a parked thread waits for the next action before it ends.</summary>
    internal static readonly TimeSpan IdleLifetime = TimeSpan.FromSeconds(10);

    private static readonly List<Worker> Idle = [];

    /// <summary>Runs <paramref name="action"/> on one of these threads; returns its result or rethrows its exception here.</summary>
    public static T Run<T>(Func<T> action)
    {
        var job = new Job<T>(action);
        Worker? parked = null;
        lock (Idle)
        {
            if (Idle.Count > 0)
            {
                parked = Idle[^1];
                Idle.RemoveAt(Idle.Count - 1);
            }
        }
        if (parked is null)
            Worker.Start(job);
        else
            parked.Hand(job);
        return job.Outcome();
    }

    private abstract class Job
    {
        // No spinning before sleeping: the thread that sets it runs on the same two cores.
        public ManualResetEventSlim Done { get; } = new(false, spinCount: 0);

        /// <summary>Runs the action and signals <see cref="Done"/>; never throws.</summary>
        public abstract void Execute();
    }

    private sealed class Job<T>(Func<T> action) : Job
    {
        private T _result = default!;
        private ExceptionDispatchInfo? _failure;

        public override void Execute()
        {
            try
            {
                _result = action();
            }
            catch (Exception e)
            {
                _failure = ExceptionDispatchInfo.Capture(e);
            }
            Done.Set();
        }

        public T Outcome()
        {
            Done.Wait();
            _failure?.Throw();
            return _result;
        }
    }

    private sealed class Worker
    {
        private readonly ManualResetEventSlim _go = new(false, spinCount: 0);
        private Job? _job;

        public static void Start(Job first)
        {
            var worker = new Worker { _job = first };
            new Thread(worker.Loop) { IsBackground = true, Name = "fathom netns" }.Start();
        }

        public void Hand(Job job)
        {
            _job = job;
            _go.Set();
        }

        private void Loop()
        {
            while (true)
            {
                var job = Interlocked.Exchange(ref _job, null)
                    ?? throw new InvalidOperationException("a netns thread was woken without an action");
                job.Execute();
                lock (Idle)
                    Idle.Add(this);
                if (!_go.Wait(IdleLifetime))
                {
                    lock (Idle)
                    {
                        if (Idle.Remove(this))
                            return;
                    }
                    _go.Wait(); // taken from the list just as the wait ended: its action is coming
                }
                _go.Reset();
            }
        }
    }
}
