using System.Runtime.InteropServices;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>The pod's network namespace, as CNI_NETNS names it.</summary>
public static class PodNetns
{
    /// <summary>
    /// Opens the namespace at <paramref name="path"/> for ADD or CHECK: one that cannot be opened is
    /// error 102, and so is the plugin's own namespace (<c>/proc/self/ns/net</c>, a bind mount of
    /// the host's): a pod is never the host, and a device "moved" there would be renamed where udev
    /// and network managers watch (docs/cni.md, Underlay mode).
    /// </summary>
    public static NetnsHandle Open(string path)
    {
        NetnsHandle netns;
        try
        {
            netns = Netns.Open(path);
        }
        catch (NetlinkException e)
        {
            throw new CniException(DatapathErrorCodes.NetnsNotFound, $"failed to open netns \"{path}\"", e.Message, e);
        }
        try
        {
            if (IsPluginOwn(netns))
                throw new CniException(DatapathErrorCodes.NetnsNotFound,
                    $"CNI_NETNS \"{path}\" is the plugin's own network namespace, not a pod's",
                    "fathom never configures the namespace it runs in; pass the pod's netns");
            return netns;
        }
        catch
        {
            netns.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A netlink handle bound to <paramref name="pod"/>, for ADD and CHECK. On a thread of its own
    /// (the plugin's main thread; never a pool thread) the socket is made right here: setns(2) into
    /// the pod, socket(2), setns(2) back — where <see cref="NetlinkHandle.OpenIn"/> starts a thread
    /// for it, whose start and join were ≈ 5 % of a shared ADD's CPU once the serializer was gone
    /// (perf record, docs/benchmarks.md). Nothing runs in between, no <c>await</c>, and a thread that
    /// cannot get back to its namespace ends the process (STYLE.md §3: that thread dies) rather than
    /// configure the wrong network. A pool thread gets <see cref="NetlinkHandle.OpenIn"/>.
    /// </summary>
    public static NetlinkHandle OpenLinks(NetnsHandle pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        if (Thread.CurrentThread.IsThreadPoolThread)
            return KernelCall.Run($"open a netlink socket in netns {pod.Path}", () => NetlinkHandle.OpenIn(pod));
        using var own = KernelCall.Run("open the plugin's own netns", Netns.OpenCurrent);
        KernelCall.Run($"enter netns {pod.Path}", () =>
        {
            if (Interop.Setns(pod, Interop.CLONE_NEWNET) != 0)
                throw new NetlinkException(Marshal.GetLastPInvokeError(), $"setns into {pod.Path} failed");
        });
        try
        {
            return KernelCall.Run($"open a netlink socket in netns {pod.Path}", NetlinkHandle.Open);
        }
        finally
        {
            if (Interop.Setns(own, Interop.CLONE_NEWNET) != 0)
                Environment.FailFast($"fathom: cannot return to its own netns from {pod.Path} (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    /// <summary>
    /// True when <paramref name="netns"/> is the namespace the plugin runs in: the same nsfs inode.
    /// Every namespace file lives on the one nsfs superblock, so its inode alone names it (it is
    /// what <c>ip netns identify</c> compares, and what <c>readlink /proc/self/ns/net</c> shows).
    /// </summary>
    public static bool IsPluginOwn(NetnsHandle netns)
    {
        ArgumentNullException.ThrowIfNull(netns);
        using var own = KernelCall.Run("open the plugin's own netns", Netns.OpenCurrent);
        return netns.Inode == own.Inode;
    }
}
