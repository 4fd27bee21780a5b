using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// <c>redirect: bpf</c> for a new pod at once, not at the next reconcile (up to <c>reconcileSeconds</c>
/// later): a dedicated thread reads the node's link events (RTNLGRP_LINK, <see cref="LinkWatcher"/>) and,
/// when the node-side veth of one of the mode's pods appears — the name the agent gave it at ADD
/// (<see cref="PodSubnetEntry.HostVeth"/>), which the plugin creates already up with its peer in the
/// pod (<c>NodeVeth.Create</c>) — attaches <c>from_pod</c> to it. The plugin's ADD never waits for it:
/// the kernel announces the veth while the plugin goes on wiring it, and until the filter is there the
/// kernel forwards the pod's packets, correctly. What this misses (events lost to a full queue,
/// ENOBUFS; an attach that failed) the reconcile still does: it runs at once after a loss.
/// </summary>
internal sealed class PodVethWatcher : IDisposable
{
    private static readonly TimeSpan StopCheck = TimeSpan.FromMilliseconds(500);

    private readonly LinkWatcher _links;
    private readonly Func<string, bool> _isPodVeth;
    private readonly Func<int, bool> _attach;
    private readonly Action _resync;
    private readonly Action<string> _warn;
    private readonly CancellationTokenSource _stop = new();
    // The veths attached since they appeared: a veth announces itself again on every change (GRO,
    // addresses, carrier), and one tc dump per announcement would be wasted.
    private readonly HashSet<int> _attached = [];
    private readonly Thread _thread;
    private long _attachedTotal;

    private PodVethWatcher(LinkWatcher links, Func<string, bool> isPodVeth, Func<int, bool> attach, Action resync, Action<string> warn)
    {
        _links = links;
        _isPodVeth = isPodVeth;
        _attach = attach;
        _resync = resync;
        _warn = warn;
        _thread = new Thread(Run) { IsBackground = true, Name = "fathom-pod-veths" };
    }

    /// <summary>Pod veths given <c>from_pod</c> by this watcher, as they appeared.</summary>
    public long AttachedTotal => Interlocked.Read(ref _attachedTotal);

    /// <summary>
    /// Starts watching <paramref name="links"/> (subscribed before this returns, so no veth created
    /// after it is missed; the watcher owns it from here): <paramref name="isPodVeth"/> says whether a
    /// link name is a pod's veth of the mode, <paramref name="attach"/> attaches by index (false: not
    /// attached), <paramref name="resync"/> reconciles after events were lost.
    /// </summary>
    public static PodVethWatcher Start(LinkWatcher links, Func<string, bool> isPodVeth, Func<int, bool> attach, Action resync, Action<string> warn)
    {
        var watcher = new PodVethWatcher(links, isPodVeth, attach, resync, warn);
        watcher._thread.Start();
        return watcher;
    }

    private void Run()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (_links.TryRead(StopCheck, out var linkEvent)) Handle(linkEvent);
            }
            catch (NetlinkException e) when (e.Error == Errno.ENOBUFS)
            {
                // Events were lost (a burst of links): the reconcile lists the routes and attaches what is missing.
                _attached.Clear();
                _resync();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _warn($"watching the node's links for new pod veths failed, again in 1 s (the reconcile still attaches): {e.Message}");
                stop.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
            }
        }
    }

    private void Handle(LinkEvent linkEvent)
    {
        var link = linkEvent.Link;
        if (linkEvent.Kind == LinkEventKind.Deleted)
        {
            _attached.Remove(link.Index);
            return;
        }
        if (_attached.Contains(link.Index) || !_isPodVeth(link.Name)) return;
        if (_attach(link.Index))
        {
            _attached.Add(link.Index);
            Interlocked.Increment(ref _attachedTotal);
        }
    }

    /// <summary>Stops the thread and unsubscribes.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        if (_thread.IsAlive) _thread.Join();
        _links.Dispose();
        _stop.Dispose();
    }
}
