using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;

namespace Fathom.Netlink;

public static partial class Netns
{
    /// <summary>
    /// Runs <paramref name="action"/> inside <paramref name="netns"/> on a thread of Fathom's own
    /// (<see cref="NetnsThreads"/>), waits for it, and returns its result or rethrows its exception
    /// here. The calling thread never changes namespace. The action must be synchronous: an
    /// <c>await</c> would resume on another thread, in another namespace.
    /// </summary>
    /// <remarks>
    /// setns(2) with CLONE_NEWNET moves only the calling thread, and a pool thread left in the
    /// wrong namespace would silently configure the wrong network later; hence threads that run
    /// nothing but these actions, each entering the action's namespace first (as
    /// containernetworking/plugins pkg/ns keeps a goroutine's thread locked to it).
    /// </remarks>
    public static T Run<T>(NetnsHandle netns, Func<T> action)
    {
        ArgumentNullException.ThrowIfNull(netns);
        ArgumentNullException.ThrowIfNull(action);
        return NetnsThreads.Run(() =>
        {
            // No way back is needed: the thread runs nothing but actions like this one, and each
            // enters its own namespace first, wherever the one before left the thread.
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

    /// <summary>
    /// Runs a function on a new, unpooled thread that ends with it, and returns its result or
    /// rethrows its exception: for an action that leaves the thread somewhere no other action may
    /// follow (<see cref="Create"/> unshares the thread's namespace and keeps it there).
    /// </summary>
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
