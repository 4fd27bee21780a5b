using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Fathom.Netlink.Addresses;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Neighbors;

/// <summary>
/// RTM_*NEIGH requests and replies (struct ndmsg + NDA_*), for IP neighbours (ip/ipneigh.c) and
/// AF_BRIDGE FDB entries (bridge/fdb.c), attribute order as iproute2 6.1.
/// </summary>
internal static class NeighborMessages
{
    public const ushort AddFlags = Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL;
    public const ushort ReplaceFlags = Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE;
    public const ushort AppendFlags = Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_APPEND;
    public const ushort DeleteFlags = Rtnl.NLM_F_ACK;

    public static void WriteNeighbor(ref NetlinkWriter w, ushort type, ushort flags, Neighbor neighbor)
    {
        ArgumentNullException.ThrowIfNull(neighbor);
        ArgumentNullException.ThrowIfNull(neighbor.Ip);
        w.BeginMessage(type, flags);
        WriteNdMsg(ref w, AddressMessages.Family(neighbor.Ip.AddressFamily), neighbor.Index, (ushort)neighbor.State, (byte)neighbor.Flags);
        w.PutAddress(Rtnl.NDA_DST, neighbor.Ip);
        if (neighbor.Mac is { } mac) w.PutMac(Rtnl.NDA_LLADDR, mac);
        if (neighbor.Protocol is { } protocol) w.PutU8(Rtnl.NDA_PROTOCOL, (byte)protocol);
    }

    public static void WriteFdb(ref NetlinkWriter w, ushort type, ushort flags, FdbEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(entry.Mac);
        // bridge/fdb.c fdb_modify: state starts as NUD_NOARP; "permanent" adds NUD_PERMANENT, "static" NUD_REACHABLE.
        var state = NeighborState.NoArp | (entry.Permanent ? NeighborState.Permanent : NeighborState.Reachable);
        var ntf = (entry.Self ? NeighborFlags.Self : 0) | (entry.Master ? NeighborFlags.Master : 0);
        w.BeginMessage(type, flags);
        WriteNdMsg(ref w, Rtnl.AF_BRIDGE, entry.Index, (ushort)state, (byte)ntf);
        w.PutMac(Rtnl.NDA_LLADDR, entry.Mac);
        if (entry.Destination is { } destination) w.PutAddress(Rtnl.NDA_DST, destination);
        if (entry.Vlan is int vlan) w.PutU16(Rtnl.NDA_VLAN, (ushort)vlan);
        if (entry.Vni is int vni) w.PutU32(Rtnl.NDA_VNI, (uint)vni);
    }

    public static void WriteDump(ref NetlinkWriter w, byte family)
    {
        w.BeginMessage(Rtnl.RTM_GETNEIGH, Rtnl.NLM_F_DUMP);
        WriteNdMsg(ref w, family, 0, 0, 0);
    }

    public static Neighbor? ParseNeighbor(in NetlinkMessage message)
    {
        if (message.Type is not (Rtnl.RTM_NEWNEIGH or Rtnl.RTM_DELNEIGH)) return null;
        return ParseNeighbor(message.Payload);
    }

    /// <summary>Parses an IP neighbour; null for another family or an entry without NDA_DST.</summary>
    public static Neighbor? ParseNeighbor(ReadOnlySpan<byte> payload)
    {
        var header = Malformed.Require(payload, Rtnl.NdMsgLength, "ndmsg");
        if (header[0] is not (Rtnl.AF_INET or Rtnl.AF_INET6)) return null;
        IPAddress? ip = null;
        PhysicalAddress? mac = null;
        RouteProtocol? protocol = null;
        var attributes = new AttributeReader(payload[Rtnl.NdMsgLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            if (type == Rtnl.NDA_DST) ip = Malformed.Address(value, "NDA_DST");
            else if (type == Rtnl.NDA_LLADDR) mac = Malformed.Mac(value);
            else if (type == Rtnl.NDA_PROTOCOL && value.Length >= 1) protocol = (RouteProtocol)value[0];
        }
        if (ip is null) return null;
        return new Neighbor
        {
            Index = NativeEndian.ReadInt32(header[4..]),
            Ip = ip,
            Mac = mac,
            State = (NeighborState)NativeEndian.ReadUInt16(header[8..]),
            Flags = (NeighborFlags)header[10],
            Protocol = protocol,
        };
    }

    public static FdbEntry? ParseFdb(in NetlinkMessage message)
    {
        if (message.Type is not (Rtnl.RTM_NEWNEIGH or Rtnl.RTM_DELNEIGH)) return null;
        return ParseFdb(message.Payload);
    }

    /// <summary>Parses an AF_BRIDGE neighbour; null for another family or an entry without NDA_LLADDR.</summary>
    public static FdbEntry? ParseFdb(ReadOnlySpan<byte> payload)
    {
        var header = Malformed.Require(payload, Rtnl.NdMsgLength, "ndmsg");
        if (header[0] != Rtnl.AF_BRIDGE) return null;
        PhysicalAddress? mac = null;
        IPAddress? destination = null;
        int? vlan = null, vni = null, master = null;
        var attributes = new AttributeReader(payload[Rtnl.NdMsgLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            switch (type)
            {
                case Rtnl.NDA_LLADDR: mac = Malformed.Mac(value); break;
                case Rtnl.NDA_DST: destination = Malformed.Address(value, "NDA_DST"); break;
                case Rtnl.NDA_VLAN: vlan = Malformed.U16(value, "NDA_VLAN"); break;
                case Rtnl.NDA_VNI: vni = Malformed.I32(value, "NDA_VNI"); break;
                case Rtnl.NDA_MASTER: master = Malformed.I32(value, "NDA_MASTER"); break;
            }
        }
        if (mac is null) return null;
        var state = (NeighborState)NativeEndian.ReadUInt16(header[8..]);
        var flags = (NeighborFlags)header[10];
        return new FdbEntry
        {
            Index = NativeEndian.ReadInt32(header[4..]),
            Mac = mac,
            Destination = destination,
            Self = (flags & NeighborFlags.Self) != 0,
            Master = (flags & NeighborFlags.Master) != 0,
            Permanent = (state & NeighborState.Permanent) != 0,
            Vlan = vlan,
            Vni = vni,
            MasterIndex = master,
            State = state,
        };
    }

    private static void WriteNdMsg(ref NetlinkWriter w, byte family, int index, ushort state, byte flags)
    {
        var header = w.Reserve(Rtnl.NdMsgLength);
        header[0] = family;
        NativeEndian.WriteInt32(header[4..], index);
        NativeEndian.WriteUInt16(header[8..], state);
        header[10] = flags;
    }
}
