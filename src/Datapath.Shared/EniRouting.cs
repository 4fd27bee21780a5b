using System.Net;
using System.Net.Sockets;
using Fathom.Netlink;

namespace Fathom.Datapath.Shared;

/// <summary>
/// The routing table of one ENI on the node, which shared-mode pods whose IPs the ENI owns are
/// routed by (<c>from podIP lookup TABLE</c>, <see cref="SharedWiring"/>): the subnet's gateway
/// on the ENI's link, and the default route through it. Installed by the agent when the ENI is
/// attached, once for all its pods, as AWS VPC CNI installs its per-ENI tables. Everything goes
/// through the gateway, even within the subnet: the VPC, not ARP between nodes, knows which ENI
/// holds which secondary IP.
/// </summary>
public static class EniRouting
{
    /// <summary>
    /// Installs (or corrects) the table of the ENI at <paramref name="eniIndex"/> (bringing the ENI up), and sets
    /// reverse-path filtering on it to loose (2): a reply to a pod arrives on the ENI while the
    /// main table's route back to the pod's peers leads elsewhere, and strict filtering (1) would
    /// drop it (AWS VPC CNI sets the same on the primary ENI). The ENI's own address
    /// (<paramref name="primaryIp"/>) goes on the device as a /32, which adds no route: the kernel's
    /// reverse-path check drops whatever arrives on a device with no IPv4 address unless the way back
    /// leads out of that very device (<c>__fib_validate_source</c>), even when loose — and a reply from
    /// a host-gw or overlay pod arrives on the ENI while the way back to the pod's CIDR is the main
    /// table's (AWS VPC CNI puts a secondary ENI's primary IP on its device too).
    /// </summary>
    public static void Install(NetlinkHandle host, NetnsHandle hostNetns, int eniIndex, string eniName, int table, IPAddress gateway,
        IPAddress? primaryIp = null)
    {
        // A hot-plugged ENI appears down, and the kernel refuses a route through a device that is
        // down (ENETDOWN, "Device for nexthop is not up"): an ENI that hosts IPs carries traffic.
        KernelCall.Run($"set {eniName} up", () => host.SetLinkUp(eniIndex));
        KernelCall.Run($"route {gateway} dev {eniName} in table {table}", () => host.ReplaceRoute(new Route
        {
            Destination = new IpPrefix(gateway, 32),
            OutputIndex = eniIndex,
            Scope = RouteScope.Link,
            Table = table,
        }));
        KernelCall.Run($"route default via {gateway} dev {eniName} in table {table}", () => host.ReplaceRoute(new Route
        {
            Family = AddressFamily.InterNetwork,
            Gateway = gateway,
            OutputIndex = eniIndex,
            Table = table,
        }));
        Netns.WriteSysctl(hostNetns, $"net/ipv4/conf/{eniName}/rp_filter", "2");
        if (primaryIp is not null && !host.ListAddresses(index: eniIndex).Any(a => a.Prefix.Address.Equals(primaryIp)))
            KernelCall.Run($"add {primaryIp}/32 to {eniName}", () => host.AddAddress(eniIndex, new IpPrefix(primaryIp, 32), new AddressOptions()));
    }

    /// <summary>The table's routes as the kernel holds them (for CHECK and the agent's reconcile).</summary>
    public static IReadOnlyList<Route> Routes(NetlinkHandle host, int table) =>
        KernelCall.Run($"list routes of table {table}", () => host.ListRoutes(AddressFamily.InterNetwork, table));

    /// <summary>Removes every route of <paramref name="table"/> (the ENI is detached; idempotent).</summary>
    public static void Remove(NetlinkHandle host, int table)
    {
        foreach (var route in Routes(host, table))
        {
            try
            {
                host.DeleteRoute(route);
            }
            catch (NetlinkException e) when (e.IsNotFound)
            {
            }
        }
    }
}
