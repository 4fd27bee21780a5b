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
