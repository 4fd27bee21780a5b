namespace Fathom.Netlink;
