namespace Fathom.Netlink.Wire;

/// <summary>
/// Numbers of the netlink and rtnetlink ABI. Sources: include/uapi/linux/netlink.h,
/// rtnetlink.h, if_link.h, if_addr.h, neighbour.h, fib_rules.h, if.h, pkt_sched.h, pkt_cls.h.
/// </summary>
internal static class Rtnl
{
    // struct nlmsghdr and friends (netlink.h).
    public const int HeaderLength = 16;
    public const int AttributeHeaderLength = 4;
    public const ushort NLMSG_NOOP = 1, NLMSG_ERROR = 2, NLMSG_DONE = 3, NLMSG_OVERRUN = 4;
    public const ushort NLM_F_REQUEST = 0x1, NLM_F_MULTI = 0x2, NLM_F_ACK = 0x4, NLM_F_ECHO = 0x8, NLM_F_DUMP_INTR = 0x10;
    public const ushort NLM_F_ROOT = 0x100, NLM_F_MATCH = 0x200, NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
    public const ushort NLM_F_REPLACE = 0x100, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400, NLM_F_APPEND = 0x800;
    public const ushort NLM_F_CAPPED = 0x100, NLM_F_ACK_TLVS = 0x200;
    public const ushort NLMSGERR_ATTR_MSG = 1, NLMSGERR_ATTR_OFFS = 2;
    public const ushort NLA_F_NESTED = 0x8000, NLA_F_NET_BYTEORDER = 0x4000, NLA_TYPE_MASK = 0x3fff;

    // Message types (rtnetlink.h).
    public const ushort RTM_NEWLINK = 16, RTM_DELLINK = 17, RTM_GETLINK = 18, RTM_SETLINK = 19;
    public const ushort RTM_NEWADDR = 20, RTM_DELADDR = 21, RTM_GETADDR = 22;
    public const ushort RTM_NEWROUTE = 24, RTM_DELROUTE = 25, RTM_GETROUTE = 26;
    public const ushort RTM_NEWNEIGH = 28, RTM_DELNEIGH = 29, RTM_GETNEIGH = 30;
    public const ushort RTM_NEWRULE = 32, RTM_DELRULE = 33, RTM_GETRULE = 34;
    public const ushort RTM_NEWQDISC = 36, RTM_DELQDISC = 37, RTM_GETQDISC = 38;
    public const ushort RTM_NEWTFILTER = 44, RTM_DELTFILTER = 45, RTM_GETTFILTER = 46;

    // Address families (linux/socket.h).
    public const byte AF_UNSPEC = 0, AF_INET = 2, AF_BRIDGE = 7, AF_INET6 = 10;

    // struct ifinfomsg is 16 bytes; IFLA_* (if_link.h).
    public const int IfInfoMsgLength = 16;
    public const ushort IFLA_ADDRESS = 1, IFLA_BROADCAST = 2, IFLA_IFNAME = 3, IFLA_MTU = 4, IFLA_LINK = 5,
        IFLA_MASTER = 10, IFLA_OPERSTATE = 16, IFLA_LINKINFO = 18, IFLA_IFALIAS = 20, IFLA_NET_NS_FD = 28,
        IFLA_EXT_MASK = 29, IFLA_NUM_TX_QUEUES = 31, IFLA_NUM_RX_QUEUES = 32, IFLA_LINK_NETNSID = 37;
    public const ushort IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, IFLA_INFO_SLAVE_KIND = 4;
    public const ushort VETH_INFO_PEER = 1;
    public const ushort IFLA_VXLAN_ID = 1, IFLA_VXLAN_GROUP = 2, IFLA_VXLAN_LINK = 3, IFLA_VXLAN_LOCAL = 4,
        IFLA_VXLAN_LEARNING = 7, IFLA_VXLAN_PORT = 15, IFLA_VXLAN_GROUP6 = 16, IFLA_VXLAN_LOCAL6 = 17;
    public const ushort IFLA_MACVLAN_MODE = 1;
    public const uint IFF_UP = 0x1;
    public const uint RTEXT_FILTER_VF = 1 << 0;

    // struct ifaddrmsg is 8 bytes; IFA_* (if_addr.h).
    public const int IfAddrMsgLength = 8;
    public const ushort IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3, IFA_BROADCAST = 4, IFA_FLAGS = 8;

    // struct rtmsg is 12 bytes; RTA_* (rtnetlink.h).
    public const int RtMsgLength = 12;
    public const ushort RTA_DST = 1, RTA_SRC = 2, RTA_OIF = 4, RTA_GATEWAY = 5, RTA_PRIORITY = 6, RTA_PREFSRC = 7,
        RTA_METRICS = 8, RTA_TABLE = 15;
    public const ushort RTAX_MTU = 2, RTAX_ADVMSS = 8;
    public const uint RTNH_F_ONLINK = 4;
    public const uint RTM_F_CLONED = 0x200;

    // struct fib_rule_hdr is 12 bytes; FRA_* (fib_rules.h).
    public const int FibRuleHdrLength = 12;
    public const ushort FRA_DST = 1, FRA_SRC = 2, FRA_IIFNAME = 3, FRA_PRIORITY = 6, FRA_FWMARK = 10,
        FRA_TABLE = 15, FRA_FWMASK = 16, FRA_OIFNAME = 17, FRA_PROTOCOL = 21;

    // struct ndmsg is 12 bytes; NDA_* (neighbour.h).
    public const int NdMsgLength = 12;
    public const ushort NDA_DST = 1, NDA_LLADDR = 2, NDA_VLAN = 5, NDA_VNI = 7, NDA_MASTER = 9, NDA_PROTOCOL = 12;

    // struct tcmsg is 20 bytes; TCA_* (rtnetlink.h), TCA_BPF_* (pkt_cls.h), TC_H_* (pkt_sched.h).
    public const int TcMsgLength = 20;
    public const ushort TCA_KIND = 1, TCA_OPTIONS = 2;
    public const ushort TCA_BPF_FD = 6, TCA_BPF_NAME = 7, TCA_BPF_FLAGS = 8, TCA_BPF_TAG = 10, TCA_BPF_ID = 11;
    public const uint TCA_BPF_FLAG_ACT_DIRECT = 1;
    public const uint TC_H_CLSACT = 0xFFFFFFF1, TC_H_MIN_INGRESS = 0xFFF2, TC_H_MIN_EGRESS = 0xFFF3;
    public const ushort ETH_P_ALL = 0x0003;
}
