using System.Diagnostics.CodeAnalysis;
using System.Net.NetworkInformation;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Lists every link in the namespace (RTM_GETLINK dump).</summary>
    public IReadOnlyList<Link> ListLinks() => throw new NotImplementedException();

    /// <summary>Gets a link by name.</summary>
    /// <exception cref="NetlinkException">ENODEV when there is no such link.</exception>
    public Link GetLink(string name) => throw new NotImplementedException();

    /// <summary>Gets a link by ifindex.</summary>
    /// <exception cref="NetlinkException">ENODEV when there is no such link.</exception>
    public Link GetLink(int index) => throw new NotImplementedException();

    /// <summary>Gets a link by name, or false when there is none.</summary>
    public bool TryGetLink(string name, [NotNullWhen(true)] out Link? link) => throw new NotImplementedException();

    /// <summary>Gets a link by ifindex, or false when there is none.</summary>
    public bool TryGetLink(int index, [NotNullWhen(true)] out Link? link) => throw new NotImplementedException();

    /// <summary>
    /// Creates a veth pair <paramref name="name"/> ↔ <paramref name="peerName"/>; the peer is
    /// created directly in <paramref name="peerNetns"/> when given (never visible here).
    /// Both ends start down. Returns the local end.
    /// </summary>
    public Link CreateVeth(string name, string peerName, NetnsHandle? peerNetns = null, VethOptions? options = null) =>
        throw new NotImplementedException();

    /// <summary>Creates a bridge (down).</summary>
    public Link CreateBridge(string name, BridgeOptions? options = null) => throw new NotImplementedException();

    /// <summary>Creates a VXLAN device (down).</summary>
    public Link CreateVxlan(string name, VxlanOptions options) => throw new NotImplementedException();

    /// <summary>Creates a macvlan on <paramref name="parentIndex"/> (down).</summary>
    public Link CreateMacvlan(string name, int parentIndex, MacvlanMode mode = MacvlanMode.Bridge) =>
        throw new NotImplementedException();

    /// <summary>Deletes a link (for a veth, both ends).</summary>
    /// <exception cref="NetlinkException">ENODEV when there is no such link.</exception>
    public void DeleteLink(int index) => throw new NotImplementedException();

    /// <summary>Deletes a link by name; false when it did not exist.</summary>
    public bool TryDeleteLink(string name) => throw new NotImplementedException();

    /// <summary>Sets IFF_UP.</summary>
    public void SetLinkUp(int index) => throw new NotImplementedException();

    /// <summary>Clears IFF_UP.</summary>
    public void SetLinkDown(int index) => throw new NotImplementedException();

    /// <summary>Renames a link (the kernel requires it to be down).</summary>
    public void SetLinkName(int index, string name) => throw new NotImplementedException();

    /// <summary>Sets the MTU.</summary>
    public void SetLinkMtu(int index, int mtu) => throw new NotImplementedException();

    /// <summary>Sets the MAC address.</summary>
    public void SetLinkMac(int index, PhysicalAddress mac) => throw new NotImplementedException();

    /// <summary>Sets IFLA_IFALIAS; an empty string clears it.</summary>
    public void SetLinkAlias(int index, string alias) => throw new NotImplementedException();

    /// <summary>Enslaves the link to a bridge (IFLA_MASTER).</summary>
    public void SetLinkMaster(int index, int masterIndex) => throw new NotImplementedException();

    /// <summary>Releases the link from its master (IFLA_MASTER 0).</summary>
    public void SetLinkNoMaster(int index) => throw new NotImplementedException();

    /// <summary>Moves the link into <paramref name="netns"/> (IFLA_NET_NS_FD); it keeps its name unless that clashes.</summary>
    public void MoveLinkToNetns(int index, NetnsHandle netns) => throw new NotImplementedException();
}
