using Fathom.Netlink.Tc;
using Fathom.Netlink.Wire;

namespace Fathom.Netlink.Tests.Tc;

/// <summary>
/// bpf(BPF_PROG_LOAD) and the clsact qdisc with a direct-action bpf filter on the real kernel, in a
/// fresh namespace, cross-checked with tc itself.
/// </summary>
public sealed class TcBpfFilterTests
{
    /// <summary><c>r0 = -1 (TC_ACT_UNSPEC); exit</c>: a classifier that lets every packet pass.</summary>
    private static readonly byte[] PassAll =
    [
        0xb7, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // BPF_ALU64 | BPF_MOV | BPF_K: r0 = -1
        0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // BPF_JMP | BPF_EXIT
    ];

    /// <summary><c>r0 = 0; r0 = 2</c> and no exit: the verifier refuses it ("last insn is not an exit or jmp").</summary>
    private static readonly byte[] NoExit =
    [
        0xb7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xb7, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
    ];

    [PrivilegedFact("ip", "tc")]
    public void A_program_attaches_as_a_direct_action_filter_lists_replaces_and_goes()
    {
        Privileged.Require("ip", "tc");
        using var ns = KernelNetns.Create();
        ns.Netlink.CreateVeth("va", "vb");
        var index = ns.Netlink.GetLink("va").Index;

        Assert.Empty(ns.Netlink.ListTcBpfFilters(index, TcHook.Ingress)); // no clsact yet: nothing, not an error
        Assert.True(ns.Netlink.TryAddClsact(index));
        Assert.False(ns.Netlink.TryAddClsact(index));
        using (var program = BpfProgram.LoadClassifier(PassAll, "pass_all", "GPL"))
            ns.Netlink.ReplaceTcBpfFilter(index, TcHook.Ingress, 7, program, "pass_all");

        var filter = Assert.Single(ns.Netlink.ListTcBpfFilters(index, TcHook.Ingress));
        Assert.Equal((index, TcHook.Ingress, (ushort)7, 1u, "pass_all", true), (filter.Index, filter.Hook, filter.Priority, filter.Handle, filter.Name, filter.DirectAction));
        Assert.NotNull(filter.ProgramId); // the filter holds the program after its fd is closed
        Assert.Empty(ns.Netlink.ListTcBpfFilters(index, TcHook.Egress));
        var shown = Shell.Exec(ns.Name, "tc", "filter", "show", "dev", "va", "ingress").Stdout;
        Assert.Contains("pref 7 bpf", shown);
        Assert.Contains("pass_all direct-action", shown);
        Assert.Contains($"id {filter.ProgramId}", shown);

        // Replacing keeps one filter with a new program.
        using (var again = BpfProgram.LoadClassifier(PassAll, "pass_all2", "GPL"))
            ns.Netlink.ReplaceTcBpfFilter(index, TcHook.Ingress, 7, again, "pass_all2");
        var replaced = Assert.Single(ns.Netlink.ListTcBpfFilters(index, TcHook.Ingress));
        Assert.Equal("pass_all2", replaced.Name);
        Assert.NotEqual(filter.ProgramId, replaced.ProgramId);

        Assert.True(ns.Netlink.TryDeleteTcFilters(index, TcHook.Ingress, 7));
        Assert.False(ns.Netlink.TryDeleteTcFilters(index, TcHook.Ingress, 7));
        Assert.Empty(ns.Netlink.ListTcBpfFilters(index, TcHook.Ingress));
        Assert.True(ns.Netlink.TryDeleteClsact(index));
        Assert.False(ns.Netlink.TryDeleteClsact(index));
        Assert.DoesNotContain("clsact", Shell.Exec(ns.Name, "tc", "qdisc", "show", "dev", "va").Stdout);
    }

    [PrivilegedFact("ip")]
    public void A_refused_program_says_why_and_bad_arguments_are_EINVAL()
    {
        Privileged.Require("ip");
        var refused = Assert.Throws<NetlinkException>(() => BpfProgram.LoadClassifier(NoExit, "no_exit", "GPL"));
        Assert.Equal(Errno.EINVAL, refused.Error);
        Assert.StartsWith("verifier: ", refused.KernelMessage);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => BpfProgram.LoadClassifier(PassAll.AsSpan(0, 12), "odd", "GPL")).Error);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => BpfProgram.LoadClassifier(PassAll, "a name too long!", "GPL")).Error);

        using var ns = KernelNetns.Create();
        ns.Netlink.CreateVeth("va", "vb");
        using var program = BpfProgram.LoadClassifier(PassAll, "pass_all", "GPL");
        // No clsact qdisc to attach to: the kernel's refusal, named.
        var noQdisc = Assert.Throws<NetlinkException>(() => ns.Netlink.ReplaceTcBpfFilter(ns.Netlink.GetLink("va").Index, TcHook.Ingress, 7, program, "pass_all"));
        Assert.Contains("attach bpf filter pass_all", noQdisc.Message);
        Assert.Equal(Errno.EINVAL, Assert.Throws<NetlinkException>(() => ns.Netlink.ReplaceTcBpfFilter(1, TcHook.Ingress, 0, program, "x")).Error);
    }

    [Fact]
    public void The_filter_request_is_what_tc_sends()
    {
        // tc filter replace dev <3> ingress pref 7 handle 1 bpf da fd 9 name n: tcmsg{ifindex 3, handle 1,
        // parent ffff:fff2, info 7<<16 | htons(ETH_P_ALL)}, TCA_KIND "bpf", TCA_OPTIONS{FD 9, NAME "n", FLAGS 1}.
        Span<byte> buffer = stackalloc byte[256];
        var w = new NetlinkWriter(buffer);
        TcMessages.WriteBpfFilter(ref w, Rtnl.NLM_F_ACK | Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE, 3, TcHook.Ingress, 7, 1, 9, "n");
        w.EndMessage();
        var bytes = w.Written.ToArray();
        Assert.Equal(Rtnl.RTM_NEWTFILTER, BitConverter.ToUInt16(bytes, 4));
        Assert.Equal(3, BitConverter.ToInt32(bytes, 16 + 4));
        Assert.Equal(1u, BitConverter.ToUInt32(bytes, 16 + 8));
        Assert.Equal(0xFFFFFFF2u, BitConverter.ToUInt32(bytes, 16 + 12));
        Assert.Equal(0x00070300u, BitConverter.ToUInt32(bytes, 16 + 16));
        Assert.Equal("08-00-01-00-62-70-66-00", BitConverter.ToString(bytes, 36, 8)); // TCA_KIND "bpf\0"
        Assert.Equal("1C-00-02-00-08-00-06-00-09-00-00-00-06-00-07-00-6E-00-00-00-08-00-08-00-01-00-00-00",
            BitConverter.ToString(bytes, 44, 28));
        Assert.Equal(72, bytes.Length);
    }
}
