using System.Net.Sockets;

namespace Fathom.Netlink;

/// <summary>
/// A policy-routing rule (struct fib_rule_hdr + FRA_*, include/uapi/linux/fib_rules.h), as
/// <c>ip rule</c> shows it.
/// </summary>
public sealed record Rule
{
    /// <summary>AF_INET or AF_INET6.</summary>
    public required AddressFamily Family { get; init; }

    /// <summary>FRA_PRIORITY ("pref"); null lets the kernel choose on add, matches any on delete.</summary>
    public int? Priority { get; init; }

    /// <summary>FRA_SRC with src_len ("from").</summary>
    public IpPrefix? From { get; init; }

    /// <summary>FRA_DST with dst_len ("to").</summary>
    public IpPrefix? To { get; init; }

    /// <summary>FRA_IIFNAME ("iif").</summary>
    public string? IifName { get; init; }

    /// <summary>FRA_OIFNAME ("oif").</summary>
    public string? OifName { get; init; }

    /// <summary>The table to look up (frh.table, or FRA_TABLE above 255); 0 for none.</summary>
    public int Table { get; init; } = RouteTables.Main;

    /// <summary>FRA_FWMARK ("fwmark"), null when unset.</summary>
    public uint? Mark { get; init; }

    /// <summary>FRA_FWMASK, null when unset.</summary>
    public uint? Mask { get; init; }

    /// <summary>The action (frh.action); look up <see cref="Table"/> by default.</summary>
    public RuleAction Action { get; init; } = RuleAction.ToTable;
}

/// <summary>Rule actions (FR_ACT_*, include/uapi/linux/fib_rules.h).</summary>
public enum RuleAction : byte
{
    /// <summary>FR_ACT_UNSPEC.</summary>
    Unspec = 0,
    /// <summary>FR_ACT_TO_TBL: look up a table.</summary>
    ToTable = 1,
    /// <summary>FR_ACT_GOTO: jump to another rule.</summary>
    Goto = 2,
    /// <summary>FR_ACT_NOP.</summary>
    Nop = 3,
    /// <summary>FR_ACT_BLACKHOLE: drop silently.</summary>
    Blackhole = 6,
    /// <summary>FR_ACT_UNREACHABLE.</summary>
    Unreachable = 7,
    /// <summary>FR_ACT_PROHIBIT.</summary>
    Prohibit = 8,
}
