using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>The pod's network namespace, as CNI_NETNS names it.</summary>
public static class PodNetns
{
    /// <summary>Opens the namespace at <paramref name="path"/>; one that cannot be opened is error 102.</summary>
    public static NetnsHandle Open(string path)
    {
        try
        {
            return Netns.Open(path);
        }
        catch (NetlinkException e)
        {
            throw new CniException(DatapathErrorCodes.NetnsNotFound, $"failed to open netns \"{path}\"", e.Message, e);
        }
    }
}
