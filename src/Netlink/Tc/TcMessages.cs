using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Tc;

/// <summary>
/// RTM_*QDISC and RTM_*TFILTER requests and replies for a clsact qdisc and its <c>bpf</c> filters
/// (struct tcmsg + TCA_*, TCA_BPF_*), as iproute2 6.1 sends them for <c>tc qdisc add dev D clsact</c>
/// and <c>tc filter replace dev D ingress pref P handle H bpf da fd F name N</c> (tc/tc_qdisc.c,
/// tc/f_bpf.c); the same constants as vishvananda/netlink's nl/tc_linux.go.
/// </summary>
internal static class TcMessages
{
    /// <summary>The clsact qdisc's handle, ffff: (TC_H_MAKE(TC_H_CLSACT, 0)).</summary>
    public const uint ClsactHandle = 0xFFFF0000;

    public static uint Parent(TcHook hook) =>
        (ClsactHandle & 0xFFFF0000) | (hook == TcHook.Ingress ? Rtnl.TC_H_MIN_INGRESS : Rtnl.TC_H_MIN_EGRESS);

    public static void WriteClsact(ref NetlinkWriter w, ushort type, ushort flags, int index)
    {
        w.BeginMessage(type, flags);
        WriteTcMsg(ref w, index, ClsactHandle, Rtnl.TC_H_CLSACT, 0);
        w.PutString(Rtnl.TCA_KIND, "clsact");
    }

    /// <summary>A filter that matches every protocol (ETH_P_ALL, in network order as tcm_info's minor wants it).</summary>
    public static void WriteBpfFilter(ref NetlinkWriter w, ushort flags, int index, TcHook hook, ushort priority, uint handle, int fd, string name)
    {
        w.BeginMessage(Rtnl.RTM_NEWTFILTER, flags);
        WriteTcMsg(ref w, index, handle, Parent(hook), Info(priority));
        w.PutString(Rtnl.TCA_KIND, "bpf");
        var options = w.BeginNested(Rtnl.TCA_OPTIONS);
        w.PutU32(Rtnl.TCA_BPF_FD, (uint)fd);
        w.PutString(Rtnl.TCA_BPF_NAME, name);
        w.PutU32(Rtnl.TCA_BPF_FLAGS, Rtnl.TCA_BPF_FLAG_ACT_DIRECT);
        w.EndNested(options);
    }

    /// <summary>Deletes every filter of one priority on the hook (<c>tc filter del dev D ingress pref P</c>).</summary>
    public static void WriteDeleteFilters(ref NetlinkWriter w, int index, TcHook hook, ushort priority)
    {
        w.BeginMessage(Rtnl.RTM_DELTFILTER, Rtnl.NLM_F_ACK);
        WriteTcMsg(ref w, index, 0, Parent(hook), Info(priority));
    }

    public static void WriteFilterDump(ref NetlinkWriter w, int index, TcHook hook)
    {
        w.BeginMessage(Rtnl.RTM_GETTFILTER, Rtnl.NLM_F_DUMP);
        WriteTcMsg(ref w, index, 0, Parent(hook), 0);
    }

    /// <summary>
    /// A <c>bpf</c> filter of the dump; null for another kind, and for the message that heads each
    /// priority (handle 0, no options: tc prints it as <c>filter protocol all pref 7 bpf chain 0</c>).
    /// </summary>
    public static TcBpfFilter? ParseBpfFilter(in NetlinkMessage message)
    {
        if (message.Type != Rtnl.RTM_NEWTFILTER) return null;
        var header = Malformed.Require(message.Payload, Rtnl.TcMsgLength, "tcmsg");
        string? kind = null, name = null, tag = null;
        uint? id = null;
        var direct = false;
        var attributes = new AttributeReader(message.Payload[Rtnl.TcMsgLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            if (type == Rtnl.TCA_KIND) kind = Malformed.String(value);
            else if (type == Rtnl.TCA_OPTIONS)
            {
                var options = new AttributeReader(value);
                while (options.TryRead(out ushort option, out var v))
                {
                    switch (option)
                    {
                        case Rtnl.TCA_BPF_NAME: name = Malformed.String(v); break;
                        case Rtnl.TCA_BPF_FLAGS: direct = (Malformed.U32(v, "TCA_BPF_FLAGS") & Rtnl.TCA_BPF_FLAG_ACT_DIRECT) != 0; break;
                        case Rtnl.TCA_BPF_ID: id = Malformed.U32(v, "TCA_BPF_ID"); break;
                        case Rtnl.TCA_BPF_TAG: tag = Convert.ToHexStringLower(v); break;
                    }
                }
            }
        }
        var handle = NativeEndian.ReadUInt32(header[8..]);
        if (kind != "bpf" || handle == 0) return null;
        var parent = NativeEndian.ReadUInt32(header[12..]);
        return new TcBpfFilter
        {
            Index = NativeEndian.ReadInt32(header[4..]),
            Hook = (parent & 0xFFFF) == Rtnl.TC_H_MIN_EGRESS ? TcHook.Egress : TcHook.Ingress,
            Handle = handle,
            Priority = (ushort)(NativeEndian.ReadUInt32(header[16..]) >> 16),
            Name = name,
            DirectAction = direct,
            ProgramId = id,
            Tag = tag,
        };
    }

    /// <summary>tcm_info of a filter: TC_H_MAKE(priority &lt;&lt; 16, htons(ETH_P_ALL)).</summary>
    private static uint Info(ushort priority) => ((uint)priority << 16) | (ushort)((Rtnl.ETH_P_ALL << 8) | (Rtnl.ETH_P_ALL >> 8));

    private static void WriteTcMsg(ref NetlinkWriter w, int index, uint handle, uint parent, uint info)
    {
        var header = w.Reserve(Rtnl.TcMsgLength);
        header[0] = Rtnl.AF_UNSPEC;
        NativeEndian.WriteInt32(header[4..], index);
        NativeEndian.WriteUInt32(header[8..], handle);
        NativeEndian.WriteUInt32(header[12..], parent);
        NativeEndian.WriteUInt32(header[16..], info);
    }
}
