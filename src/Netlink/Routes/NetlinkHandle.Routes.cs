using System.Globalization;
using System.Net.Sockets;
using Fathom.Netlink.Routes;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a route (NLM_F_CREATE|NLM_F_EXCL).</summary>
    /// <exception cref="NetlinkException">EEXIST when an equal route exists; EINVAL or ENETUNREACH (with the kernel's reason) for an unusable gateway.</exception>
    public void AddRoute(Route route) =>
        Execute((ref NetlinkWriter w) => RouteMessages.WriteNew(ref w, route, RouteMessages.AddFlags),
            $"add route {Describe(route)}");

    /// <summary>Adds or replaces a route (NLM_F_CREATE|NLM_F_REPLACE).</summary>
    public void ReplaceRoute(Route route) =>
        Execute((ref NetlinkWriter w) => RouteMessages.WriteNew(ref w, route, RouteMessages.ReplaceFlags),
            $"replace route {Describe(route)}");

    /// <summary>Deletes a route; null settings match any value.</summary>
    /// <exception cref="NetlinkException">ESRCH when no route matches.</exception>
    public void DeleteRoute(Route route) =>
        Execute((ref NetlinkWriter w) => RouteMessages.WriteDelete(ref w, route), $"delete route {Describe(route)}");

    /// <summary>
    /// Lists the routes of one family in one table (main by default; <see cref="RouteTables.Unspec"/>
    /// for every table). Cached (RTM_F_CLONED) routes are left out.
    /// </summary>
    public IReadOnlyList<Route> ListRoutes(AddressFamily family, int? table = null)
    {
        int t = table ?? RouteTables.Main;
        var routes = Dump((ref NetlinkWriter w) => RouteMessages.WriteDump(ref w, family, t),
            RouteMessages.Parse, $"list {family} routes");
        // Kernels without strict checking ignore the table filter: apply it here as well.
        if (t != RouteTables.Unspec) routes.RemoveAll(r => r.Table != t);
        return routes;
    }

    /// <summary>
    /// The route for an error message; evaluated before the request is written, so it refuses null.
    /// Concatenated, never an interpolated string inside another: see <see cref="IpPrefix"/>'s remarks.
    /// </summary>
    private static string Describe(Route route)
    {
        ArgumentNullException.ThrowIfNull(route);
        return string.Concat(
            route.Destination is { } d ? d.ToString() : "default",
            route.Gateway is { } g ? " via " + g : "",
            route.OutputIndex is int o ? " dev " + o.ToString(CultureInfo.InvariantCulture) : "",
            " table " + route.Table.ToString(CultureInfo.InvariantCulture));
    }
}
