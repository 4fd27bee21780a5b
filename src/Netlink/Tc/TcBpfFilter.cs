namespace Fathom.Netlink;

/// <summary>Which of a clsact qdisc's two hooks a filter sits on (include/uapi/linux/pkt_sched.h, TC_H_MIN_INGRESS/EGRESS).</summary>
public enum TcHook
{
    /// <summary>Packets the device receives, before the IP stack sees them (<c>tc filter … ingress</c>).</summary>
    Ingress,

    /// <summary>Packets the device is about to send (<c>tc filter … egress</c>).</summary>
    Egress,
}

/// <summary>
/// A tc <c>bpf</c> classifier on a device's clsact hook, as <c>tc filter show dev DEV ingress</c>
/// lists it: <c>pref</c> <see cref="Priority"/>, <c>handle</c> <see cref="Handle"/>, the program's
/// <see cref="Name"/> (TCA_BPF_NAME), <c>direct-action</c>, and the loaded program's id and tag.
/// </summary>
public sealed record TcBpfFilter
{
    /// <summary>The device's index.</summary>
    public required int Index { get; init; }

    /// <summary>The hook.</summary>
    public required TcHook Hook { get; init; }

    /// <summary>The filter's priority (<c>pref</c>): lower runs first.</summary>
    public required ushort Priority { get; init; }

    /// <summary>The filter's handle within its priority.</summary>
    public required uint Handle { get; init; }

    /// <summary>The name the filter was given (TCA_BPF_NAME), or null.</summary>
    public string? Name { get; init; }

    /// <summary>Whether the program's return value is the action (TCA_BPF_FLAG_ACT_DIRECT).</summary>
    public bool DirectAction { get; init; }

    /// <summary>The loaded program's id (TCA_BPF_ID), as <c>bpftool prog show id N</c> takes it.</summary>
    public uint? ProgramId { get; init; }

    /// <summary>The program's tag (TCA_BPF_TAG): a hash of its instructions, the same for the same program.</summary>
    public string? Tag { get; init; }
}
