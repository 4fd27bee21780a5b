using System.Net.Sockets;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a neighbour entry (NLM_F_CREATE|NLM_F_EXCL).</summary>
    public void AddNeighbor(Neighbor neighbor) => throw new NotImplementedException();

    /// <summary>Adds or replaces a neighbour entry (NLM_F_CREATE|NLM_F_REPLACE).</summary>
    public void ReplaceNeighbor(Neighbor neighbor) => throw new NotImplementedException();

    /// <summary>Deletes a neighbour entry.</summary>
    public void DeleteNeighbor(Neighbor neighbor) => throw new NotImplementedException();

    /// <summary>Lists neighbour entries of one family, optionally on one link.</summary>
    public IReadOnlyList<Neighbor> ListNeighbors(AddressFamily family, int? index = null) => throw new NotImplementedException();

    /// <summary>Adds a bridge/VXLAN FDB entry (NLM_F_CREATE|NLM_F_EXCL).</summary>
    public void AddFdb(FdbEntry entry) => throw new NotImplementedException();

    /// <summary>Adds or replaces an FDB entry (NLM_F_CREATE|NLM_F_REPLACE).</summary>
    public void ReplaceFdb(FdbEntry entry) => throw new NotImplementedException();

    /// <summary>
    /// Appends an FDB entry (NLM_F_CREATE|NLM_F_APPEND): VXLAN keeps several destinations for one
    /// MAC, which is how the all-zeros MAC floods to every remote VTEP (<c>bridge fdb append</c>).
    /// </summary>
    public void AppendFdb(FdbEntry entry) => throw new NotImplementedException();

    /// <summary>Deletes an FDB entry (for VXLAN, the one with this destination).</summary>
    public void DeleteFdb(FdbEntry entry) => throw new NotImplementedException();

    /// <summary>Lists FDB entries (AF_BRIDGE neighbours), optionally of one link.</summary>
    public IReadOnlyList<FdbEntry> ListFdb(int? index = null) => throw new NotImplementedException();
}
