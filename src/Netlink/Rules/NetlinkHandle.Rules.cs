using System.Net.Sockets;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a policy rule.</summary>
    public void AddRule(Rule rule) => throw new NotImplementedException();

    /// <summary>Deletes the first rule matching every non-null setting.</summary>
    /// <exception cref="NetlinkException">ENOENT when none matches.</exception>
    public void DeleteRule(Rule rule) => throw new NotImplementedException();

    /// <summary>Lists the rules of one family, in priority order.</summary>
    public IReadOnlyList<Rule> ListRules(AddressFamily family) => throw new NotImplementedException();
}
