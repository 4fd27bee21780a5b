using System.Net.Sockets;
using Fathom.Netlink.Rules;

namespace Fathom.Netlink;

public sealed partial class NetlinkHandle
{
    /// <summary>Adds a policy rule.</summary>
    /// <exception cref="NetlinkException">EEXIST when an identical rule exists.</exception>
    public void AddRule(Rule rule)
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            RuleMessages.WriteAdd(ref w, rule);
            _socket.Execute(ref w, $"add rule {Describe(rule)}");
        }
    }

    /// <summary>
    /// Deletes the first rule matching every setting given (net/core/fib_rules.c rule_find:
    /// unset attributes, a zero table and a zero action match anything).
    /// </summary>
    /// <exception cref="NetlinkException">ENOENT when none matches.</exception>
    public void DeleteRule(Rule rule)
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            RuleMessages.WriteDelete(ref w, rule);
            _socket.Execute(ref w, $"delete rule {Describe(rule)}");
        }
    }

    /// <summary>Lists the rules of one family, in priority order.</summary>
    public IReadOnlyList<Rule> ListRules(AddressFamily family)
    {
        lock (_gate)
        {
            var w = _socket.BeginRequest();
            RuleMessages.WriteDump(ref w, family);
            return _socket.Dump(ref w, RuleMessages.Parse, $"list {family} rules");
        }
    }

    private static string Describe(Rule rule) =>
        $"{(rule.Priority is int p ? $"pref {p} " : "")}{(rule.From is { } f ? $"from {f} " : "")}" +
        $"{(rule.To is { } t ? $"to {t} " : "")}table {rule.Table}";
}
