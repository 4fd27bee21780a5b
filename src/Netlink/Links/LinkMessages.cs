using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Links;

/// <summary>
/// RTM_*LINK requests and replies. Attribute order follows iproute2 6.1 (ip/iplink.c,
/// ip/link_veth.c, ip/link_vxlan.c, ip/iplink_macvlan.c) so the requests are byte-identical to
/// what <c>ip link</c> sends, which the tests check against captured bytes.
/// </summary>
internal static class LinkMessages
{
    private const ushort Create = Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL;
    // RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS, what `ip link show dev X` asks for (include/uapi/linux/rtnetlink.h).
    private const uint GetExtMask = 9;

    public static void WriteCreateVeth(ref NetlinkWriter w, string name, string peerName, int? peerNetnsFd, VethOptions? options)
    {
        ValidateName(name);
        ValidateName(peerName);
        var up = options?.Up == true ? Rtnl.IFF_UP : 0u;
        w.BeginMessage(Rtnl.RTM_NEWLINK, Create);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, 0, up, up);
        PutCommon(ref w, options?.Mtu, options?.Mac);
        PutQueues(ref w, options?.Queues);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        int info = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutUnterminatedString(Rtnl.IFLA_INFO_KIND, "veth");
        int data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
        // VETH_INFO_PEER carries a whole struct ifinfomsg and the peer's own IFLA_* attributes
        // (drivers/net/veth.c veth_newlink); IFLA_NET_NS_FD there creates the peer in that netns.
        int peer = w.BeginNested(Rtnl.VETH_INFO_PEER);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, 0, 0, 0);
        PutCommon(ref w, options?.Mtu, options?.PeerMac);
        PutQueues(ref w, options?.Queues);
        if (peerNetnsFd is int fd) w.PutI32(Rtnl.IFLA_NET_NS_FD, fd);
        w.PutString(Rtnl.IFLA_IFNAME, peerName);
        w.EndNested(peer);
        w.EndNested(data);
        w.EndNested(info);
    }

    public static void WriteCreateBridge(ref NetlinkWriter w, string name, BridgeOptions? options)
    {
        ValidateName(name);
        BeginNewLink(ref w, Create, 0);
        PutCommon(ref w, options?.Mtu, options?.Mac);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        int info = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutUnterminatedString(Rtnl.IFLA_INFO_KIND, "bridge");
        w.EndNested(info);
    }

    public static void WriteCreateVxlan(ref NetlinkWriter w, string name, VxlanOptions options)
    {
        ValidateName(name);
        if ((uint)options.Vni >= 1 << 24)
            throw new NetlinkException(Errno.EINVAL, $"VNI {options.Vni} does not fit 24 bits");
        if ((uint)options.DstPort > ushort.MaxValue)
            throw new NetlinkException(Errno.EINVAL, $"VXLAN port {options.DstPort} is out of range");
        BeginNewLink(ref w, Create, 0);
        PutCommon(ref w, options.Mtu, options.Mac);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        int info = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutUnterminatedString(Rtnl.IFLA_INFO_KIND, "vxlan");
        int data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
        if (options.UnderlyingIndex is int link) w.PutI32(Rtnl.IFLA_VXLAN_LINK, link);
        w.PutU32(Rtnl.IFLA_VXLAN_ID, (uint)options.Vni);
        if (options.Local is { } local)
            w.PutAddress(local.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? Rtnl.IFLA_VXLAN_LOCAL6 : Rtnl.IFLA_VXLAN_LOCAL, local);
        w.PutU8(Rtnl.IFLA_VXLAN_LEARNING, options.Learning ? (byte)1 : (byte)0);
        // The port is the one attribute in network byte order (drivers/net/vxlan/vxlan_core.c, nla_get_be16).
        w.PutBe16(Rtnl.IFLA_VXLAN_PORT, (ushort)options.DstPort);
        w.EndNested(data);
        w.EndNested(info);
    }

    public static void WriteCreateMacvlan(ref NetlinkWriter w, string name, int parentIndex, MacvlanMode mode)
    {
        ValidateName(name);
        BeginNewLink(ref w, Create, 0);
        w.PutI32(Rtnl.IFLA_LINK, parentIndex);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        int info = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutUnterminatedString(Rtnl.IFLA_INFO_KIND, "macvlan");
        int data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
        w.PutU32(Rtnl.IFLA_MACVLAN_MODE, (uint)mode);
        w.EndNested(data);
        w.EndNested(info);
    }

    /// <summary>`ip link set dev X up|down`: RTM_NEWLINK with IFF_UP in ifi_change.</summary>
    public static void WriteSetUp(ref NetlinkWriter w, int index, bool up)
    {
        w.BeginMessage(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, index, up ? Rtnl.IFF_UP : 0, Rtnl.IFF_UP);
    }

    public static void WriteSetMtu(ref NetlinkWriter w, int index, int mtu)
    {
        if (mtu <= 0) throw new NetlinkException(Errno.EINVAL, $"MTU {mtu} is not positive");
        BeginNewLink(ref w, Rtnl.NLM_F_ACK, index);
        w.PutU32(Rtnl.IFLA_MTU, (uint)mtu);
    }

    public static void WriteSetName(ref NetlinkWriter w, int index, string name)
    {
        ValidateName(name);
        BeginNewLink(ref w, Rtnl.NLM_F_ACK, index);
        w.PutString(Rtnl.IFLA_IFNAME, name);
    }

    public static void WriteSetMac(ref NetlinkWriter w, int index, PhysicalAddress mac)
    {
        BeginNewLink(ref w, Rtnl.NLM_F_ACK, index);
        w.PutMac(Rtnl.IFLA_ADDRESS, mac);
    }

    /// <summary>IFLA_IFALIAS without a NUL, as iproute2 sends it; an empty value clears the alias (net/core/dev.c dev_set_alias).</summary>
    public static void WriteSetAlias(ref NetlinkWriter w, int index, string alias)
    {
        // IFALIASZ is 256 including the terminator.
        if (Encoding.UTF8.GetByteCount(alias) >= 256)
            throw new NetlinkException(Errno.EINVAL, "a link alias is at most 255 bytes");
        BeginNewLink(ref w, Rtnl.NLM_F_ACK, index);
        w.PutUnterminatedString(Rtnl.IFLA_IFALIAS, alias);
    }

    /// <summary>IFLA_MASTER; 0 releases the link (`nomaster`).</summary>
    public static void WriteSetMaster(ref NetlinkWriter w, int index, int masterIndex)
    {
        BeginNewLink(ref w, Rtnl.NLM_F_ACK, index);
        w.PutI32(Rtnl.IFLA_MASTER, masterIndex);
    }

    /// <summary>
    /// IFLA_NET_NS_FD, and IFLA_IFNAME to rename in the same request (iproute2's
    /// <c>ip link set X netns N name Y</c>). net/core/rtnetlink.c do_setlink moves first
    /// (__dev_change_net_namespace uses the name only if the old one clashes there), then renames
    /// in the target namespace — so never in the source, but not atomically: if the new name is
    /// taken there, the link has moved under its old name and the request fails with EEXIST.
    /// An alias rides in the same request (IFLA_IFALIAS, before the name as iproute2 puts it for
    /// <c>ip link set X netns N name Y alias A up</c>).
    /// </summary>
    public static void WriteSetNetns(ref NetlinkWriter w, int index, int netnsFd, string? newName = null, bool up = false, string? alias = null)
    {
        if (newName is not null) ValidateName(newName);
        w.BeginMessage(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_ACK);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, index, up ? Rtnl.IFF_UP : 0, up ? Rtnl.IFF_UP : 0);
        w.PutI32(Rtnl.IFLA_NET_NS_FD, netnsFd);
        if (alias is not null) w.PutUnterminatedString(Rtnl.IFLA_IFALIAS, alias);
        if (newName is not null) w.PutString(Rtnl.IFLA_IFNAME, newName);
    }

    public static void WriteDelete(ref NetlinkWriter w, int index)
    {
        w.BeginMessage(Rtnl.RTM_DELLINK, Rtnl.NLM_F_ACK);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, index, 0, 0);
    }

    /// <summary>Delete by IFLA_IFNAME (net/core/rtnetlink.c rtnl_dellink looks the name up itself: one round trip, no race).</summary>
    public static void WriteDeleteByName(ref NetlinkWriter w, string name)
    {
        ValidateName(name);
        w.BeginMessage(Rtnl.RTM_DELLINK, Rtnl.NLM_F_ACK);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, 0, 0, 0);
        w.PutString(Rtnl.IFLA_IFNAME, name);
    }

    public static void WriteGet(ref NetlinkWriter w, int index)
    {
        w.BeginMessage(Rtnl.RTM_GETLINK, 0);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, index, 0, 0);
        w.PutU32(Rtnl.IFLA_EXT_MASK, GetExtMask);
    }

    public static void WriteGetByName(ref NetlinkWriter w, string name)
    {
        ValidateName(name);
        w.BeginMessage(Rtnl.RTM_GETLINK, 0);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, 0, 0, 0);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        w.PutU32(Rtnl.IFLA_EXT_MASK, GetExtMask);
    }

    /// <summary>The dump `ip link show` sends: AF_PACKET and RTEXT_FILTER_VF (ip/ipaddress.c ipaddr_list_flush_or_save).</summary>
    public static void WriteDump(ref NetlinkWriter w)
    {
        w.BeginMessage(Rtnl.RTM_GETLINK, Rtnl.NLM_F_DUMP);
        WriteIfInfo(ref w, 17 /* AF_PACKET */, 0, 0, 0);
        w.PutU32(Rtnl.IFLA_EXT_MASK, Rtnl.RTEXT_FILTER_VF);
    }

    /// <summary>Parses an RTM_NEWLINK or RTM_DELLINK message; null for any other type.</summary>
    public static Link? Parse(in NetlinkMessage message) =>
        message.Type is Rtnl.RTM_NEWLINK or Rtnl.RTM_DELLINK ? Parse(message.Payload) : null;

    /// <summary>Parses the payload of an RTM_NEWLINK/RTM_DELLINK message (struct ifinfomsg + IFLA_*).</summary>
    public static Link Parse(ReadOnlySpan<byte> payload)
    {
        var header = Malformed.Require(payload, Rtnl.IfInfoMsgLength, "ifinfomsg");
        int index = NativeEndian.ReadInt32(header[4..]);
        var flags = (LinkFlags)NativeEndian.ReadUInt32(header[8..]);
        string? name = null, alias = null, kind = null, slaveKind = null;
        PhysicalAddress? mac = null;
        int mtu = 0;
        int? master = null, peer = null, peerNetnsId = null;
        var operState = OperState.Unknown;
        ReadOnlySpan<byte> infoData = default;

        var attributes = new AttributeReader(payload[Rtnl.IfInfoMsgLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            switch (type)
            {
                case Rtnl.IFLA_IFNAME: name = Malformed.String(value); break;
                case Rtnl.IFLA_ADDRESS: mac = Malformed.Mac(value); break;
                case Rtnl.IFLA_MTU: mtu = Malformed.I32(value, "IFLA_MTU"); break;
                case Rtnl.IFLA_LINK: peer = Malformed.I32(value, "IFLA_LINK"); break;
                case Rtnl.IFLA_MASTER: master = Malformed.I32(value, "IFLA_MASTER"); break;
                case Rtnl.IFLA_OPERSTATE: operState = (OperState)Malformed.U8(value, "IFLA_OPERSTATE"); break;
                case Rtnl.IFLA_IFALIAS: alias = Malformed.String(value); break;
                case Rtnl.IFLA_LINK_NETNSID: peerNetnsId = Malformed.I32(value, "IFLA_LINK_NETNSID"); break;
                case Rtnl.IFLA_LINKINFO:
                    var info = new AttributeReader(value);
                    while (info.TryRead(out ushort infoType, out var infoValue))
                    {
                        if (infoType == Rtnl.IFLA_INFO_KIND) kind = Malformed.String(infoValue);
                        else if (infoType == Rtnl.IFLA_INFO_SLAVE_KIND) slaveKind = Malformed.String(infoValue);
                        else if (infoType == Rtnl.IFLA_INFO_DATA) infoData = infoValue;
                    }
                    break;
            }
        }
        if (name is null) throw Malformed.Error($"link {index} has no IFLA_IFNAME");

        VxlanInfo? vxlan = null;
        MacvlanMode? macvlanMode = null;
        if (kind == "vxlan") vxlan = ParseVxlan(infoData);
        else if (kind == "macvlan") macvlanMode = ParseMacvlanMode(infoData);

        return new Link
        {
            Index = index,
            Name = name,
            Kind = kind,
            SlaveKind = slaveKind,
            Flags = flags,
            OperState = operState,
            Mac = mac,
            Mtu = mtu,
            Alias = alias,
            MasterIndex = master,
            // Reported as the kernel sends it: a veth peer in another namespace may have the same ifindex.
            PeerIndex = peer,
            PeerNetnsId = peerNetnsId,
            Vxlan = vxlan,
            MacvlanMode = macvlanMode,
        };
    }

    private static VxlanInfo ParseVxlan(ReadOnlySpan<byte> data)
    {
        int vni = 0, port = 0;
        int? link = null;
        bool learning = false;
        IPAddress? local = null, group = null;
        var attributes = new AttributeReader(data);
        while (attributes.TryRead(out ushort type, out var value))
        {
            switch (type)
            {
                case Rtnl.IFLA_VXLAN_ID: vni = Malformed.I32(value, "IFLA_VXLAN_ID"); break;
                case Rtnl.IFLA_VXLAN_LINK: link = Malformed.I32(value, "IFLA_VXLAN_LINK"); break;
                case Rtnl.IFLA_VXLAN_LOCAL or Rtnl.IFLA_VXLAN_LOCAL6: local = Malformed.Address(value, "IFLA_VXLAN_LOCAL"); break;
                case Rtnl.IFLA_VXLAN_GROUP or Rtnl.IFLA_VXLAN_GROUP6: group = Malformed.Address(value, "IFLA_VXLAN_GROUP"); break;
                case Rtnl.IFLA_VXLAN_LEARNING: learning = Malformed.U8(value, "IFLA_VXLAN_LEARNING") != 0; break;
                case Rtnl.IFLA_VXLAN_PORT: port = Malformed.Be16(value, "IFLA_VXLAN_PORT"); break;
            }
        }
        // The kernel reports unset addresses and links as zero (vxlan_fill_info): treat them as unset.
        if (local is not null && (local.Equals(IPAddress.Any) || local.Equals(IPAddress.IPv6Any))) local = null;
        if (group is not null && (group.Equals(IPAddress.Any) || group.Equals(IPAddress.IPv6Any))) group = null;
        if (link == 0) link = null;
        return new VxlanInfo { Vni = vni, Local = local, Group = group, UnderlyingIndex = link, DstPort = port, Learning = learning };
    }

    private static MacvlanMode? ParseMacvlanMode(ReadOnlySpan<byte> data)
    {
        var attributes = new AttributeReader(data);
        while (attributes.TryRead(out ushort type, out var value))
            if (type == Rtnl.IFLA_MACVLAN_MODE) return (MacvlanMode)Malformed.U32(value, "IFLA_MACVLAN_MODE");
        return null;
    }

    private static void BeginNewLink(ref NetlinkWriter w, ushort flags, int index)
    {
        w.BeginMessage(Rtnl.RTM_NEWLINK, flags);
        WriteIfInfo(ref w, Rtnl.AF_UNSPEC, index, 0, 0);
    }

    private static void PutCommon(ref NetlinkWriter w, int? mtu, PhysicalAddress? mac)
    {
        if (mtu is int m)
        {
            if (m <= 0) throw new NetlinkException(Errno.EINVAL, $"MTU {m} is not positive");
            w.PutU32(Rtnl.IFLA_MTU, (uint)m);
        }
        if (mac is not null) w.PutMac(Rtnl.IFLA_ADDRESS, mac);
    }

    // numtxqueues and numrxqueues, in ip link's order (ip/iplink.c).
    private static void PutQueues(ref NetlinkWriter w, int? queues)
    {
        if (queues is not int q) return;
        if (q <= 0) throw new NetlinkException(Errno.EINVAL, $"{q} queues is not a positive count");
        w.PutU32(Rtnl.IFLA_NUM_TX_QUEUES, (uint)q);
        w.PutU32(Rtnl.IFLA_NUM_RX_QUEUES, (uint)q);
    }

    /// <summary>struct ifinfomsg (include/uapi/linux/rtnetlink.h).</summary>
    internal static void WriteIfInfo(ref NetlinkWriter w, byte family, int index, uint flags, uint change)
    {
        var span = w.Reserve(Rtnl.IfInfoMsgLength);
        span[0] = family;
        NativeEndian.WriteInt32(span[4..], index);
        NativeEndian.WriteUInt32(span[8..], flags);
        NativeEndian.WriteUInt32(span[12..], change);
    }

    /// <summary>The kernel's rule (<see cref="InterfaceNames.IsValid"/>), checked here so the error names the culprit.</summary>
    internal static void ValidateName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!InterfaceNames.IsValid(name))
            throw new NetlinkException(Errno.EINVAL, $"'{name}' is not a valid interface name (1-15 bytes, no '/', ':' or whitespace)");
    }
}
