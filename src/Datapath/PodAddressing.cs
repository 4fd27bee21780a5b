using System.Net;
using System.Net.Sockets;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// Applies an IPAM result to the pod's interface and verifies it, as the reference
/// pkg/ipam ConfigureIface and pkg/ip ValidateExpectedInterfaceIPs/ValidateExpectedRoute do.
/// Every mode that puts an interface in a pod addresses it here, through a handle opened in
/// the pod's netns.
/// </summary>
public static class PodAddressing
{
    /// <summary>Adds every address, then every route; a route without a gateway uses its family's gateway from the IPs.</summary>
    public static void Apply(NetlinkHandle pod, int index, string ifName, CniResult result, bool skipExisting = false)
    {
        var present = skipExisting ? pod.ListAddresses(index: index).Select(a => a.Prefix).ToHashSet() : [];
        foreach (var ip in result.Ips)
        {
            if (present.Contains(ip.Address)) continue;
            var options = ip.Address.Family == AddressFamily.InterNetworkV6
                // The address is the pod's alone (IPAM assigned it to this interface): skip the DAD wait.
                ? new AddressOptions { NoDad = true }
                // The subnet's broadcast address, as vishvananda/netlink AddrAdd (and so host-device) sets it.
                : new AddressOptions { Broadcast = Broadcast(ip.Address) };
            KernelCall.Run($"add address {ip.Address} to {ifName}", () => pod.AddAddress(index, ip.Address, options));
        }
        foreach (var route in result.Routes)
        {
            var r = ToKernelRoute(route, index, result);
            KernelCall.Run($"add route {route.Destination}{(r.Gateway is null ? "" : " via " + r.Gateway)} on {ifName}",
                () => { if (skipExisting) pod.ReplaceRoute(r); else pod.AddRoute(r); });
        }
    }

    // 10.10.0.1/24 → 10.10.0.255; none for /31 and /32 (RFC 3021 point-to-point, host routes).
    internal static IPAddress? Broadcast(IpPrefix prefix)
    {
        if (prefix.PrefixLength >= 31) return null;
        Span<byte> bytes = stackalloc byte[4];
        prefix.Address.TryWriteBytes(bytes, out _);
        for (var bit = prefix.PrefixLength; bit < 32; bit++)
            bytes[bit / 8] |= (byte)(0x80 >> (bit % 8));
        return new IPAddress(bytes);
    }

    /// <summary>CHECK: each address of the interface and each route of the result is present.</summary>
    public static void Verify(NetlinkHandle pod, int index, string ifName, string netnsPath, CniResult expected, int interfaceIndex)
    {
        var addresses = KernelCall.Run($"list addresses of {ifName}", () => pod.ListAddresses(index: index));
        foreach (var ip in expected.Ips.Where(ip => ip.Interface is null || ip.Interface == interfaceIndex))
            if (!addresses.Any(a => a.Prefix.Equals(ip.Address)))
                throw new CniException(CniErrorCode.CheckFailed,
                    $"address {ip.Address} is missing from \"{ifName}\" in netns {netnsPath}");

        foreach (var family in expected.Routes.Select(r => r.Destination.Family).Distinct())
        {
            var routes = KernelCall.Run($"list routes in netns {netnsPath}", () => pod.ListRoutes(family));
            foreach (var route in expected.Routes.Where(r => r.Destination.Family == family))
            {
                var want = ToKernelRoute(route, index, expected);
                var present = routes.Any(r =>
                    Same(r.Destination, want.Destination) && Equals(r.Gateway, want.Gateway) && r.Table == want.Table);
                if (!present)
                    throw new CniException(CniErrorCode.CheckFailed,
                        $"route {route.Destination}{(want.Gateway is null ? "" : " via " + want.Gateway)} is missing from netns {netnsPath}");
            }
        }
    }

    private static Route ToKernelRoute(CniRoute route, int index, CniResult result)
    {
        var family = route.Destination.Family;
        var gateway = route.Gateway ?? result.Ips.FirstOrDefault(ip => ip.Address.Family == family && ip.Gateway is not null)?.Gateway;
        return new Route
        {
            // The kernel stores a default route with no RTA_DST; say so the same way.
            Destination = route.Destination.PrefixLength == 0 ? null : route.Destination.Network,
            Family = family,
            Gateway = gateway,
            OutputIndex = index,
            Mtu = route.Mtu,
            AdvMss = route.AdvMss,
            Priority = route.Priority,
            Table = route.Table ?? RouteTables.Main,
            Scope = route.Scope is int scope ? (RouteScope)scope : null,
        };
    }

    private static bool Same(IpPrefix? a, IpPrefix? b)
    {
        static bool isDefault(IpPrefix? p) => p is null || p.Value.PrefixLength == 0;
        if (isDefault(a) || isDefault(b)) return isDefault(a) && isDefault(b);
        return a!.Value.Network.Equals(b!.Value.Network);
    }

    private static bool Equals(IPAddress? a, IPAddress? b) => a is null ? b is null : a.Equals(b);
}
