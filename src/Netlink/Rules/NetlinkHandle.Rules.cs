using System.Globalization;
using System.Net.Sockets;
using Fathom.Netlink.Rules;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a policy rule.</summary>
    /// <exception cref="NetlinkException">EEXIST when an identical rule exists.</exception>
    public void AddRule(Rule rule) =>
        Execute((ref NetlinkWriter w) => RuleMessages.WriteAdd(ref w, rule), $"add rule {Describe(rule)}");

    /// <summary>
    /// Deletes the first rule matching every setting given (net/core/fib_rules.c rule_find:
    /// unset attributes, a zero table and a zero action match anything).
    /// </summary>
    /// <exception cref="NetlinkException">ENOENT when none matches.</exception>
    public void DeleteRule(Rule rule) =>
        Execute((ref NetlinkWriter w) => RuleMessages.WriteDelete(ref w, rule), $"delete rule {Describe(rule)}");

    /// <summary>Lists the rules of one family, in priority order.</summary>
    public IReadOnlyList<Rule> ListRules(AddressFamily family) =>
        Dump((ref NetlinkWriter w) => RuleMessages.WriteDump(ref w, family), RuleMessages.Parse, $"list {family} rules");

    /// <summary>
    /// The rule for an error message; evaluated before the request is written, so it refuses null.
    /// Concatenated, never an interpolated string inside another: see <see cref="IpPrefix"/>'s remarks.
    /// </summary>
    private static string Describe(Rule rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        return string.Concat(
            rule.Priority is int p ? "pref " + p.ToString(CultureInfo.InvariantCulture) + " " : "",
            rule.From is { } f ? "from " + f + " " : "",
            rule.To is { } t ? "to " + t + " " : "",
            "table " + rule.Table.ToString(CultureInfo.InvariantCulture));
    }
}
