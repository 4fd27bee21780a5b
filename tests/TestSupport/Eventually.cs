using System.Diagnostics;

namespace Fathom.Testing;

/// <summary>
/// The one polling helper of the suite: waits for a condition that the kernel, a child process
/// or a daemon makes true asynchronously (netns teardown, a lease, a link event), bounded by a
/// deadline, failing with a message that says what was awaited.
/// </summary>
public static class Eventually
{
    /// <summary>The bound a test gets when it names none: generous, since CI runs on 2 busy cores.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static void True(Func<bool> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var bound = timeout ?? DefaultTimeout;
        var pause = interval ?? TimeSpan.FromMilliseconds(20);
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > bound)
                throw new Xunit.Sdk.XunitException($"timed out after {bound.TotalSeconds:0.#} s waiting for: {what}");
            Thread.Sleep(pause);
        }
    }

    /// <summary>Polls <paramref name="condition"/> asynchronously; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var bound = timeout ?? DefaultTimeout;
        var pause = interval ?? TimeSpan.FromMilliseconds(20);
        var clock = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (clock.Elapsed > bound)
                throw new Xunit.Sdk.XunitException($"timed out after {bound.TotalSeconds:0.#} s waiting for: {what}");
            await Task.Delay(pause).ConfigureAwait(false);
        }
    }
}
