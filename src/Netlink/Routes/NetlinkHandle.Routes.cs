using System.Net.Sockets;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a route (NLM_F_CREATE|NLM_F_EXCL).</summary>
    /// <exception cref="NetlinkException">EEXIST when an equal route exists; ENETUNREACH for an unreachable gateway.</exception>
    public void AddRoute(Route route) => throw new NotImplementedException();

    /// <summary>Adds or replaces a route (NLM_F_CREATE|NLM_F_REPLACE).</summary>
    public void ReplaceRoute(Route route) => throw new NotImplementedException();

    /// <summary>Deletes a route; null settings match any value.</summary>
    /// <exception cref="NetlinkException">ESRCH when no route matches.</exception>
    public void DeleteRoute(Route route) => throw new NotImplementedException();

    /// <summary>
    /// Lists the routes of one family in one table (main by default; <see cref="RouteTables.Unspec"/>
    /// for every table). Cached (RTM_F_CLONED) routes are left out.
    /// </summary>
    public IReadOnlyList<Route> ListRoutes(AddressFamily family, int? table = null) => throw new NotImplementedException();
}
