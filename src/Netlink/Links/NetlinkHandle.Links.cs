using System.Diagnostics.CodeAnalysis;
using System.Net.NetworkInformation;
using Fathom.Netlink.Links;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Lists every link in the namespace (RTM_GETLINK dump).</summary>
    public IReadOnlyList<Link> ListLinks() =>
        Dump((ref NetlinkWriter w) => LinkMessages.WriteDump(ref w), LinkMessages.Parse, "list links");

    /// <summary>Gets a link by name.</summary>
    /// <exception cref="NetlinkException">ENODEV when there is no such link.</exception>
    public Link GetLink(string name) =>
        Get((ref NetlinkWriter w) => LinkMessages.WriteGetByName(ref w, name), LinkMessages.Parse, $"get link {name}");

    /// <summary>Gets a link by ifindex.</summary>
    /// <exception cref="NetlinkException">ENODEV when there is no such link.</exception>
    public Link GetLink(int index) =>
        Get((ref NetlinkWriter w) => LinkMessages.WriteGet(ref w, index), LinkMessages.Parse, $"get link {index}");

    /// <summary>Gets a link by name, or false when there is none.</summary>
    public bool TryGetLink(string name, [NotNullWhen(true)] out Link? link)
    {
        link = TryGet((ref NetlinkWriter w) => LinkMessages.WriteGetByName(ref w, name), LinkMessages.Parse, $"get link {name}", Errno.ENODEV);
        return link is not null;
    }

    /// <summary>Gets a link by ifindex, or false when there is none.</summary>
    public bool TryGetLink(int index, [NotNullWhen(true)] out Link? link)
    {
        link = TryGet((ref NetlinkWriter w) => LinkMessages.WriteGet(ref w, index), LinkMessages.Parse, $"get link {index}", Errno.ENODEV);
        return link is not null;
    }

    /// <summary>
    /// Creates a veth pair <paramref name="name"/> ↔ <paramref name="peerName"/>; the peer is
    /// created directly in <paramref name="peerNetns"/> when given (it never appears here, so
    /// nothing in this namespace can race on its name). Both ends start down unless
    /// <see cref="VethOptions.Up"/>. Returns the local end as the kernel made it: its echo of the
    /// request (NLM_F_ECHO), or, from a kernel that sends none (before 6.3), a GET.
    /// </summary>
    /// <exception cref="NetlinkException">EEXIST when either name is taken.</exception>
    public Link CreateVeth(string name, string peerName, NetnsHandle? peerNetns = null, VethOptions? options = null)
    {
        Link? echo = null;
        if (peerNetns is null)
            echo = CreateVethCore(name, peerName, null, options);
        else
            WithFd(peerNetns, fd => echo = CreateVethCore(name, peerName, fd, options));
        return echo is not null && echo.Name == name ? echo : GetLink(name);
    }

    private Link? CreateVethCore(string name, string peerName, int? peerNetnsFd, VethOptions? options) =>
        ExecuteEcho((ref NetlinkWriter w) => LinkMessages.WriteCreateVeth(ref w, name, peerName, peerNetnsFd, options),
            LinkMessages.Parse, $"create veth {name} (peer {peerName})");

    /// <summary>Creates a bridge (down).</summary>
    public Link CreateBridge(string name, BridgeOptions? options = null)
    {
        Execute((ref NetlinkWriter w) => LinkMessages.WriteCreateBridge(ref w, name, options), $"create bridge {name}");
        return GetLink(name);
    }

    /// <summary>Creates a VXLAN device (down).</summary>
    public Link CreateVxlan(string name, VxlanOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Execute((ref NetlinkWriter w) => LinkMessages.WriteCreateVxlan(ref w, name, options),
            $"create vxlan {name} (vni {options.Vni})");
        return GetLink(name);
    }

    /// <summary>Creates a macvlan on <paramref name="parentIndex"/> (down).</summary>
    public Link CreateMacvlan(string name, int parentIndex, MacvlanMode mode = MacvlanMode.Bridge)
    {
        Execute((ref NetlinkWriter w) => LinkMessages.WriteCreateMacvlan(ref w, name, parentIndex, mode),
            $"create macvlan {name} on link {parentIndex}");
        return GetLink(name);
    }

    /// <summary>Deletes a link (for a veth, both ends).</summary>
    /// <exception cref="NetlinkException">ENODEV when there is no such link.</exception>
    public void DeleteLink(int index) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteDelete(ref w, index), $"delete link {index}");

    /// <summary>Deletes a link by name; false when it did not exist.</summary>
    public bool TryDeleteLink(string name)
    {
        try
        {
            Execute((ref NetlinkWriter w) => LinkMessages.WriteDeleteByName(ref w, name), $"delete link {name}");
            return true;
        }
        catch (NetlinkException e) when (e.Error == Errno.ENODEV)
        {
            return false;
        }
    }

    /// <summary>Sets IFF_UP.</summary>
    public void SetLinkUp(int index) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetUp(ref w, index, up: true), $"set link {index} up");

    /// <summary>Clears IFF_UP.</summary>
    public void SetLinkDown(int index) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetUp(ref w, index, up: false), $"set link {index} down");

    /// <summary>Renames a link (the kernel refuses with EBUSY while it is up).</summary>
    public void SetLinkName(int index, string name) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetName(ref w, index, name), $"rename link {index} to {name}");

    /// <summary>Sets the MTU.</summary>
    public void SetLinkMtu(int index, int mtu) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetMtu(ref w, index, mtu), $"set link {index} mtu {mtu}");

    /// <summary>Sets the MAC address.</summary>
    public void SetLinkMac(int index, PhysicalAddress mac)
    {
        ArgumentNullException.ThrowIfNull(mac);
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetMac(ref w, index, mac), $"set link {index} address {mac}");
    }

    /// <summary>Sets IFLA_IFALIAS; an empty string clears it.</summary>
    public void SetLinkAlias(int index, string alias)
    {
        ArgumentNullException.ThrowIfNull(alias);
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetAlias(ref w, index, alias), $"set link {index} alias");
    }

    /// <summary>Enslaves the link to a bridge (IFLA_MASTER).</summary>
    public void SetLinkMaster(int index, int masterIndex) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetMaster(ref w, index, masterIndex),
            $"set link {index} master {masterIndex}");

    /// <summary>Releases the link from its master (IFLA_MASTER 0).</summary>
    public void SetLinkNoMaster(int index) =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetMaster(ref w, index, 0), $"set link {index} nomaster");

    /// <summary>
    /// Moves the link into <paramref name="netns"/> (IFLA_NET_NS_FD). Without
    /// <paramref name="newName"/> it keeps its name (EEXIST, nothing moved, if that is taken
    /// there). With it, one request moves the link and then renames it inside the target — never
    /// in this namespace — but not atomically: if <paramref name="newName"/> is taken there, the
    /// kernel has already moved the link under its old name when it fails with EEXIST.
    /// With <paramref name="up"/>, the same request then sets it up there (IFF_UP; do_setlink
    /// changes the flags after the namespace and the name): one request under RTNL fewer, and the
    /// same caveat — a device that cannot be opened fails the request after it moved. With
    /// <paramref name="alias"/>, the same request writes it (IFLA_IFALIAS, in the target, after the
    /// rename and before the flags): a request that fails before it — the move or the rename refused —
    /// leaves the device's alias as it was.
    /// </summary>
    public void MoveLinkToNetns(int index, NetnsHandle netns, string? newName = null, bool up = false, string? alias = null) => WithFd(netns, fd =>
        Execute((ref NetlinkWriter w) => LinkMessages.WriteSetNetns(ref w, index, fd, newName, up, alias),
            (newName is null ? $"move link {index} to {netns}" : $"move link {index} to {netns} as {newName}") + (alias is null ? "" : $" with alias {alias}")
            + (up ? " and set it up" : "")));
}
