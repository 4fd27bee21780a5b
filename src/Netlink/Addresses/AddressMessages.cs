using System.Net;
using System.Net.Sockets;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Addresses;

/// <summary>RTM_*ADDR requests and replies, attribute order as iproute2 6.1 ip/ipaddress.c ipaddr_modify.</summary>
internal static class AddressMessages
{
    public static void WriteAdd(ref NetlinkWriter w, int index, IpPrefix prefix, AddressOptions? options) =>
        Write(ref w, Rtnl.RTM_NEWADDR, Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, index, prefix, options);

    public static void WriteDelete(ref NetlinkWriter w, int index, IpPrefix prefix) =>
        Write(ref w, Rtnl.RTM_DELADDR, Rtnl.NLM_F_ACK, index, prefix, null);

    private static void Write(ref NetlinkWriter w, ushort type, ushort flags, int index, IpPrefix prefix, AddressOptions? options)
    {
        if (prefix.Address is null) throw new NetlinkException(Errno.EINVAL, "the address prefix is empty");
        uint addressFlags = 0;
        if (options is not null)
        {
            if (options.NoDad) addressFlags |= (uint)AddressFlags.NoDad;
            if (options.NoPrefixRoute) addressFlags |= (uint)AddressFlags.NoPrefixRoute;
        }
        w.BeginMessage(type, flags);
        var header = w.Reserve(Rtnl.IfAddrMsgLength);
        header[0] = Family(prefix.Family);
        header[1] = (byte)prefix.PrefixLength;
        // Flags that fit ifa_flags go there; larger ones need IFA_FLAGS (Linux 3.14), as iproute2 does.
        header[2] = addressFlags <= 0xff ? (byte)addressFlags : (byte)0;
        header[3] = (byte)(options?.Scope ?? RouteScope.Universe);
        NativeEndian.WriteInt32(header[4..], index);

        w.PutAddress(Rtnl.IFA_LOCAL, prefix.Address);
        if (options?.Broadcast is { } broadcast) w.PutAddress(Rtnl.IFA_BROADCAST, broadcast);
        if (options?.Label is { } label) w.PutString(Rtnl.IFA_LABEL, label);
        if (addressFlags > 0xff) w.PutU32(Rtnl.IFA_FLAGS, addressFlags);
        w.PutAddress(Rtnl.IFA_ADDRESS, prefix.Address);
    }

    /// <summary>The dump <c>ip addr show</c> sends: struct ifaddrmsg with only the family set.</summary>
    public static void WriteDump(ref NetlinkWriter w, AddressFamily? family)
    {
        w.BeginMessage(Rtnl.RTM_GETADDR, Rtnl.NLM_F_DUMP);
        var header = w.Reserve(Rtnl.IfAddrMsgLength);
        header[0] = family is { } f ? Family(f) : Rtnl.AF_UNSPEC;
    }

    public static Address? Parse(in NetlinkMessage message) =>
        message.Type is Rtnl.RTM_NEWADDR or Rtnl.RTM_DELADDR ? Parse(message.Payload) : null;

    /// <summary>Parses struct ifaddrmsg + IFA_*; null for a family other than IPv4/IPv6.</summary>
    public static Address? Parse(ReadOnlySpan<byte> payload)
    {
        var header = Malformed.Require(payload, Rtnl.IfAddrMsgLength, "ifaddrmsg");
        byte family = header[0];
        if (family is not (Rtnl.AF_INET or Rtnl.AF_INET6)) return null;
        int prefixLength = header[1];
        uint flags = header[2];
        var scope = (RouteScope)header[3];
        int index = NativeEndian.ReadInt32(header[4..]);
        IPAddress? address = null, local = null, broadcast = null;
        string? label = null;

        var attributes = new AttributeReader(payload[Rtnl.IfAddrMsgLength..]);
        while (attributes.TryRead(out ushort type, out var value))
        {
            switch (type)
            {
                case Rtnl.IFA_ADDRESS: address = Malformed.Address(value, "IFA_ADDRESS"); break;
                case Rtnl.IFA_LOCAL: local = Malformed.Address(value, "IFA_LOCAL"); break;
                case Rtnl.IFA_BROADCAST: broadcast = Malformed.Address(value, "IFA_BROADCAST"); break;
                case Rtnl.IFA_LABEL: label = Malformed.String(value); break;
                // IFA_FLAGS supersedes the 8-bit ifa_flags (include/uapi/linux/if_addr.h).
                case Rtnl.IFA_FLAGS: flags = Malformed.U32(value, "IFA_FLAGS"); break;
            }
        }
        // IPv4 reports the interface's own address in IFA_LOCAL and the peer (or the same) in
        // IFA_ADDRESS; IPv6 sends only IFA_ADDRESS unless there is a peer (net/ipv6/addrconf.c).
        var own = local ?? address ?? throw Malformed.Error($"address on link {index} has neither IFA_LOCAL nor IFA_ADDRESS");
        int max = IpPrefix.MaxLength(own.AddressFamily);
        if (prefixLength > max) throw Malformed.Error($"prefix length {prefixLength} for {own}");
        return new Address
        {
            Index = index,
            Prefix = new IpPrefix(own, prefixLength),
            Peer = local is not null && address is not null && !address.Equals(local) ? address : null,
            Broadcast = broadcast,
            Scope = scope,
            Flags = (AddressFlags)flags,
            Label = label,
        };
    }

    /// <summary>The family byte of a reply's header as IPv4 or IPv6; null for any other family.</summary>
    internal static AddressFamily? Family(byte family) => family switch
    {
        Rtnl.AF_INET => AddressFamily.InterNetwork,
        Rtnl.AF_INET6 => AddressFamily.InterNetworkV6,
        _ => null,
    };

    internal static byte Family(AddressFamily family) => family switch
    {
        AddressFamily.InterNetwork => Rtnl.AF_INET,
        AddressFamily.InterNetworkV6 => Rtnl.AF_INET6,
        _ => throw new NetlinkException(Errno.EAFNOSUPPORT, $"address family {family} is neither IPv4 nor IPv6"),
    };
}
