using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Fathom.Netlink;

public static partial class Netns
{
    /// <summary>
    /// Runs <paramref name="action"/> inside <paramref name="netns"/> on a new thread made for
    /// this call, waits for it, and returns its result or rethrows its exception here. The
    /// calling thread never changes namespace. The action must be synchronous: an <c>await</c>
    /// would resume on another thread, in another namespace.
    /// </summary>
    /// <remarks>
    /// setns(2) with CLONE_NEWNET moves only the calling thread, and a pool thread left in the
    /// wrong namespace would silently configure the wrong network later; hence one dedicated
    /// thread per call, which exits when the action is done (as containernetworking/plugins
    /// pkg/ns does by keeping a goroutine's thread locked so the Go runtime discards it).
    /// </remarks>
    public static T Run<T>(NetnsHandle netns, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(netns);
        ArgumentNullException.ThrowIfNull(action);
        return RunOnDedicatedThread($"netns {netns.Inode}", () =>
        {
            // No way back is kept: the thread ends with the action and is never reused (as in
            // Create, whose thread stays in the namespace it unshared), so going back would only
            // cost an open, two checks, a setns and a close on every call — OpenIn runs this per pod.
            if (Interop.Ns.Setns(netns, Interop.Ns.CLONE_NEWNET) != 0)
                throw new NetlinkException(Marshal.GetLastPInvokeError(), $"cannot enter {netns}");
            return action();
        });
    }

    /// <summary>Runs <paramref name="action"/> inside <paramref name="netns"/>; see <see cref="Run{T}(NetnsHandle, Func{T})"/>.</summary>
    public static void Run(NetnsHandle netns, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run(netns, () =>
        {
            action();
            return 0;
        });
    }

    /// <summary>Runs a function on a new, unpooled thread and returns its result or rethrows its exception.</summary>
    private static T RunOnDedicatedThread<T>(string name, Func<T> action)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        })
        {
            IsBackground = true,
            Name = name,
        };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }
}
