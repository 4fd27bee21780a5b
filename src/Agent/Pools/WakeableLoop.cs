using Fathom.Cloud;

namespace Fathom.Agent.Pools;

/// <summary>
/// A background loop that can be woken before its interval and stopped: what the refiller and the
/// sticky loops share. A pass takes <see cref="NextWake"/> before it works, so a
/// <see cref="Wake"/> that comes during the pass starts the next one at once.
/// </summary>
internal sealed class WakeableLoop : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;

    /// <summary>Runs <paramref name="run"/> on the thread pool until <see cref="DisposeAsync"/> cancels its token.</summary>
    public void Start(Func<CancellationToken, Task> run) => _loop = Task.Run(() => run(_stop.Token), CancellationToken.None);

    /// <summary>
    /// Runs <paramref name="pass"/> at once, then again every <paramref name="period"/> or at a <see cref="Wake"/>,
    /// whichever comes first, until <see cref="DisposeAsync"/>. A pass that fails with an I/O or cloud error
    /// is reported to <paramref name="failed"/> and retried a period later.
    /// </summary>
    public void StartPasses(Func<CancellationToken, Task> pass, TimeSpan period, TimeProvider time, Action<Exception> failed) =>
        Start(async cancellationToken =>
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var woken = NextWake();
                try
                {
                    await pass(cancellationToken).ConfigureAwait(false);
                    await Task.WhenAny(woken, Task.Delay(period, time, cancellationToken)).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is IOException or CloudException)
                {
                    failed(e);
                    await Task.Delay(period, time, cancellationToken).ConfigureAwait(false);
                }
            }
        });

    /// <summary>Ends the loop's current wait.</summary>
    public void Wake()
    {
        TaskCompletionSource wake;
        lock (_gate) wake = _wake;
        wake.TrySetResult();
    }

    /// <summary>A task that completes at the next <see cref="Wake"/>.</summary>
    public Task NextWake()
    {
        lock (_gate)
        {
            if (_wake.Task.IsCompleted) _wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
            return _wake.Task;
        }
    }

    /// <summary>Cancels the loop and waits for it to end; what it had half done is on disk for the next start.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }
}
