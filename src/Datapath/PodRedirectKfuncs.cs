using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// What the pod redirect programs need from the running kernel to leave NATed flows to it (docs/modes.md,
/// "The tc BPF pod path"): the BTF ids of the conntrack kfuncs <c>bpf_skb_ct_lookup</c> and
/// <c>bpf_ct_release</c> (net/netfilter/nf_conntrack_bpf.c) and the offset of <c>struct nf_conn</c>'s
/// <c>status</c>, all from /sys/kernel/btf/vmlinux. Resolved once per process (the file is a few MB;
/// the kernel does not change under a running agent), a failure included.
/// </summary>
internal sealed record PodRedirectKfuncs(int Lookup, int Release, short StatusOffset)
{
    internal const string LookupName = "bpf_skb_ct_lookup", ReleaseName = "bpf_ct_release";

    /// <summary>The size of struct bpf_ct_opts the programs pass (NF_BPF_CT_OPTS_SZ since Linux 6.7: ct_zone_id and ct_zone_dir).</summary>
    internal const int OptsSize = 16;

    private static readonly Lazy<PodRedirectKfuncs> Kernel = new(() => Resolve(Btf.LoadKernel()));

    /// <summary>The running kernel's, resolved on first use.</summary>
    /// <exception cref="NetlinkException">EOPNOTSUPP naming what the kernel lacks (the same exception on every call).</exception>
    public static PodRedirectKfuncs ForKernel() => Kernel.Value;

    /// <summary>Resolves the ids and the offset from <paramref name="btf"/>.</summary>
    /// <exception cref="NetlinkException">EOPNOTSUPP naming what <paramref name="btf"/> lacks.</exception>
    internal static PodRedirectKfuncs Resolve(Btf btf)
    {
        var lookup = btf.FindFunction(LookupName);
        var release = btf.FindFunction(ReleaseName);
        if (lookup is null || release is null)
            throw Missing($"the kfunc {(lookup is null ? LookupName : ReleaseName)} is not in the kernel's BTF (Linux 5.18+ with nf_conntrack built in, CONFIG_NF_CONNTRACK=y; as a module its kfuncs are not looked for)");
        var optsSize = btf.FindStructSize("bpf_ct_opts");
        if (optsSize is not OptsSize)
        {
            var found = optsSize is null ? "missing" : optsSize + " bytes";
            throw Missing($"the kernel's struct bpf_ct_opts is {found}, not the {OptsSize} the programs pass (Linux 6.7+)");
        }
        var status = btf.FindMemberOffset("nf_conn", "status");
        if (status is not int offset || offset > short.MaxValue)
            throw Missing("struct nf_conn has no status member in the kernel's BTF");
        return new PodRedirectKfuncs(lookup.Value, release.Value, (short)offset);
    }

    /// <summary>Patches the kfunc calls and the status load of one program's instructions.</summary>
    internal void Apply(byte[] program, IEnumerable<KfuncCall> calls, int statusLoad, short statusMarker)
    {
        foreach (var call in calls)
        {
            var id = call.Kfunc switch
            {
                LookupName => Lookup,
                ReleaseName => Release,
                _ => throw new InvalidOperationException($"the pod redirect program calls an unknown kfunc {call.Kfunc}; regenerate it (scripts/bpf-generate.sh)"),
            };
            BpfInstructions.SetKfuncCall(program, call.Instruction, id);
        }
        BpfInstructions.SetLoadOffset(program, statusLoad, statusMarker, StatusOffset);
    }

    private static NetlinkException Missing(string what) =>
        new(Errno.EOPNOTSUPP, $"the tc BPF pod path needs the kernel's conntrack kfuncs to leave Service (NATed) flows to the kernel, and {what}");
}
