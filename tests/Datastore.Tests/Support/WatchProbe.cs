using System.Threading.Channels;

namespace Fathom.Datastore.Tests.Support;

/// <summary>Reads a store's watch in the background, so a test can await its next event with a bound.</summary>
public sealed class WatchProbe : IAsyncDisposable
{
    private readonly Channel<SubnetLeaseEvent> _events = Channel.CreateUnbounded<SubnetLeaseEvent>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _pump;

    public WatchProbe(ISubnetLeaseStore store)
    {
        _pump = Task.Run(async () =>
        {
            Exception? failure = null;
            try
            {
                await foreach (var e in store.WatchAsync(_stop.Token)) _events.Writer.TryWrite(e);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                failure = e;
            }
            _events.Writer.TryComplete(failure);
        });
    }

    /// <summary>The next event, failing the test after <paramref name="timeout"/>.</summary>
    public async Task<SubnetLeaseEvent> NextAsync(string what, TimeSpan? timeout = null)
    {
        var bound = timeout ?? Eventually.DefaultTimeout;
        using var wait = new CancellationTokenSource(bound);
        try
        {
            return await _events.Reader.ReadAsync(wait.Token);
        }
        catch (OperationCanceledException) when (wait.IsCancellationRequested)
        {
            throw new Xunit.Sdk.XunitException($"no watch event within {bound.TotalSeconds:0.#} s; expected {what}");
        }
    }

    /// <summary>Skips events until one matches.</summary>
    public async Task<SubnetLeaseEvent> NextAsync(Func<SubnetLeaseEvent, bool> match, string what, TimeSpan? timeout = null)
    {
        var bound = timeout ?? Eventually.DefaultTimeout;
        var until = DateTime.UtcNow + bound;
        while (true)
        {
            var left = until - DateTime.UtcNow;
            var e = await NextAsync(what, left > TimeSpan.Zero ? left : TimeSpan.FromMilliseconds(1));
            if (match(e)) return e;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _pump;
        }
        catch (OperationCanceledException)
        {
        }
        _stop.Dispose();
    }
}
