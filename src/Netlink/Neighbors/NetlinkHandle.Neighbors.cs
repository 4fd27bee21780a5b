using System.Net.Sockets;
using Fathom.Netlink.Addresses;
using Fathom.Netlink.Neighbors;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a neighbour entry (NLM_F_CREATE|NLM_F_EXCL).</summary>
    public void AddNeighbor(Neighbor neighbor) =>
        ModifyNeighbor(Rtnl.RTM_NEWNEIGH, NeighborMessages.AddFlags, neighbor, "add");

    /// <summary>Adds or replaces a neighbour entry (NLM_F_CREATE|NLM_F_REPLACE).</summary>
    public void ReplaceNeighbor(Neighbor neighbor) =>
        ModifyNeighbor(Rtnl.RTM_NEWNEIGH, NeighborMessages.ReplaceFlags, neighbor, "replace");

    /// <summary>Deletes a neighbour entry.</summary>
    /// <exception cref="NetlinkException">ENOENT when there is none.</exception>
    public void DeleteNeighbor(Neighbor neighbor) =>
        ModifyNeighbor(Rtnl.RTM_DELNEIGH, NeighborMessages.DeleteFlags, neighbor, "delete");

    /// <summary>Lists neighbour entries of one family, optionally on one link.</summary>
    public IReadOnlyList<Neighbor> ListNeighbors(AddressFamily family, int? index = null)
    {
        var neighbors = Dump((ref NetlinkWriter w) => NeighborMessages.WriteDump(ref w, AddressMessages.Family(family)),
            NeighborMessages.ParseNeighbor, $"list {family} neighbours");
        neighbors.RemoveAll(n => n.Ip.AddressFamily != family || index is int i && n.Index != i);
        return neighbors;
    }

    /// <summary>Adds a bridge/VXLAN FDB entry (NLM_F_CREATE|NLM_F_EXCL).</summary>
    public void AddFdb(FdbEntry entry) => ModifyFdb(Rtnl.RTM_NEWNEIGH, NeighborMessages.AddFlags, entry, "add");

    /// <summary>Adds or replaces an FDB entry (NLM_F_CREATE|NLM_F_REPLACE).</summary>
    public void ReplaceFdb(FdbEntry entry) => ModifyFdb(Rtnl.RTM_NEWNEIGH, NeighborMessages.ReplaceFlags, entry, "replace");

    /// <summary>
    /// Appends an FDB entry (NLM_F_CREATE|NLM_F_APPEND): VXLAN keeps several destinations for one
    /// MAC, which is how the all-zeros MAC floods to every remote VTEP (<c>bridge fdb append</c>).
    /// </summary>
    public void AppendFdb(FdbEntry entry) => ModifyFdb(Rtnl.RTM_NEWNEIGH, NeighborMessages.AppendFlags, entry, "append");

    /// <summary>Deletes an FDB entry (for VXLAN, the one with this destination).</summary>
    /// <exception cref="NetlinkException">ENOENT when there is none.</exception>
    public void DeleteFdb(FdbEntry entry) => ModifyFdb(Rtnl.RTM_DELNEIGH, NeighborMessages.DeleteFlags, entry, "delete");

    /// <summary>Lists FDB entries (AF_BRIDGE neighbours), optionally of one link.</summary>
    public IReadOnlyList<FdbEntry> ListFdb(int? index = null)
    {
        var entries = Dump((ref NetlinkWriter w) => NeighborMessages.WriteDump(ref w, Rtnl.AF_BRIDGE),
            NeighborMessages.ParseFdb, "list fdb entries");
        if (index is int i) entries.RemoveAll(e => e.Index != i);
        return entries;
    }

    private void ModifyNeighbor(ushort type, ushort flags, Neighbor neighbor, string verb)
    {
        ArgumentNullException.ThrowIfNull(neighbor);
        Execute((ref NetlinkWriter w) => NeighborMessages.WriteNeighbor(ref w, type, flags, neighbor),
            $"{verb} neighbour {neighbor.Ip} on link {neighbor.Index}");
    }

    private void ModifyFdb(ushort type, ushort flags, FdbEntry entry, string verb)
    {
        ArgumentNullException.ThrowIfNull(entry);
        Execute((ref NetlinkWriter w) => NeighborMessages.WriteFdb(ref w, type, flags, entry),
            $"{verb} fdb entry {entry.Mac} dst {entry.Destination} on link {entry.Index}");
    }
}
