using System.Net;
using System.Net.Sockets;
using Fathom.Netlink.Addresses;
using Fathom.Netlink.Links;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Rules;

/// <summary>RTM_*RULE requests and replies (struct fib_rule_hdr + FRA_*), attribute order as iproute2 6.1 ip/iprule.c.</summary>
internal static class RuleMessages
{
    public static void WriteAdd(ref NetlinkWriter w, Rule rule) =>
        Write(ref w, Rtnl.RTM_NEWRULE, Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, rule);

    public static void WriteDelete(ref NetlinkWriter w, Rule rule) => Write(ref w, Rtnl.RTM_DELRULE, Rtnl.NLM_F_ACK, rule);

    private static void Write(ref NetlinkWriter w, ushort type, ushort flags, Rule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        byte family = AddressMessages.Family(rule.Family);
        if (rule.From is { } from && from.Family != rule.Family || rule.To is { } to && to.Family != rule.Family)
            throw new NetlinkException(Errno.EINVAL, $"a rule's prefixes must be {rule.Family}");
        if (rule.Table < 0) throw new NetlinkException(Errno.EINVAL, $"table {rule.Table} is negative");
        if (rule.IifName is { } iif) LinkMessages.ValidateName(iif);
        if (rule.OifName is { } oif) LinkMessages.ValidateName(oif);

        w.BeginMessage(type, flags);
        var header = w.Reserve(Rtnl.FibRuleHdrLength);
        header[0] = family;
        header[1] = (byte)(rule.To?.PrefixLength ?? 0);
        header[2] = (byte)(rule.From?.PrefixLength ?? 0);
        header[4] = rule.Table < 256 ? (byte)rule.Table : (byte)RouteTables.Unspec;
        header[7] = (byte)rule.Action;

        if (rule.From is { } source) w.PutAddress(Rtnl.FRA_SRC, source.Network.Address);
        if (rule.To is { } destination) w.PutAddress(Rtnl.FRA_DST, destination.Network.Address);
        if (rule.IifName is { } iifName) w.PutString(Rtnl.FRA_IIFNAME, iifName);
        if (rule.OifName is { } oifName) w.PutString(Rtnl.FRA_OIFNAME, oifName);
        if (rule.Mark is uint mark) w.PutU32(Rtnl.FRA_FWMARK, mark);
        if (rule.Mask is uint mask) w.PutU32(Rtnl.FRA_FWMASK, mask);
        if (rule.Table >= 256) w.PutU32(Rtnl.FRA_TABLE, (uint)rule.Table);
        if (rule.Priority is int priority) w.PutU32(Rtnl.FRA_PRIORITY, (uint)priority);
    }

    public static void WriteDump(ref NetlinkWriter w, AddressFamily family)
    {
        w.BeginMessage(Rtnl.RTM_GETRULE, Rtnl.NLM_F_DUMP);
        var header = w.Reserve(Rtnl.FibRuleHdrLength);
        header[0] = AddressMessages.Family(family);
    }

    public static Rule? Parse(in NetlinkMessage message) =>
        message.Type is Rtnl.RTM_NEWRULE or Rtnl.RTM_DELRULE ? Parse(message.Payload) : null;

    /// <summary>Parses struct fib_rule_hdr + FRA_*; null for families other than IPv4/IPv6.</summary>
    public static Rule? Parse(ReadOnlySpan<byte> payload)
    {
        var header = Malformed.Require(payload, Rtnl.FibRuleHdrLength, "fib_rule_hdr");
        if (AddressMessages.Family(header[0]) is not { } family) return null;
        int dstLength = header[1], srcLength = header[2];
        int table = header[4];
        IPAddress? source = null, destination = null;
        string? iif = null, oif = null;
        int? priority = null;
        uint? mark = null, mask = null;

        var attributes = new AttributeReader(payload[Rtnl.FibRuleHdrLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            switch (type)
            {
                case Rtnl.FRA_SRC: source = Malformed.Address(value, "FRA_SRC"); break;
                case Rtnl.FRA_DST: destination = Malformed.Address(value, "FRA_DST"); break;
                case Rtnl.FRA_IIFNAME: iif = Malformed.String(value); break;
                case Rtnl.FRA_OIFNAME: oif = Malformed.String(value); break;
                case Rtnl.FRA_PRIORITY: priority = Malformed.I32(value, "FRA_PRIORITY"); break;
                case Rtnl.FRA_TABLE: table = Malformed.I32(value, "FRA_TABLE"); break;
                case Rtnl.FRA_FWMARK: mark = Malformed.U32(value, "FRA_FWMARK"); break;
                case Rtnl.FRA_FWMASK: mask = Malformed.U32(value, "FRA_FWMASK"); break;
            }
        }
        return new Rule
        {
            Family = family,
            // The kernel leaves FRA_PRIORITY out when it is 0 (net/core/fib_rules.c fib_nl_fill_rule).
            Priority = priority ?? 0,
            From = Malformed.Prefix(source, srcLength, family, "FRA_SRC"),
            To = Malformed.Prefix(destination, dstLength, family, "FRA_DST"),
            IifName = iif,
            OifName = oif,
            Table = table,
            Mark = mark,
            Mask = mask,
            Action = (RuleAction)header[7],
        };
    }
}
