using System.Runtime.InteropServices;

namespace Fathom.Netlink;

internal static partial class Interop
{
    internal static partial class Bpf
    {
        /// <summary>__NR_bpf on x86-64 (arch/x86/entry/syscalls/syscall_64.tbl) and arm64 (include/uapi/asm-generic/unistd.h).</summary>
        internal static readonly long SYS_bpf = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 280 : 321;

        /// <summary>enum bpf_cmd (include/uapi/linux/bpf.h).</summary>
        internal const int BPF_PROG_LOAD = 5;

        /// <summary>enum bpf_prog_type: BPF_PROG_TYPE_SCHED_CLS, a tc classifier.</summary>
        internal const uint BPF_PROG_TYPE_SCHED_CLS = 3;

        /// <summary>
        /// The leading fields of union bpf_attr for BPF_PROG_LOAD, up to expected_attach_type; the
        /// kernel accepts a shorter attr than its own and zero-fills the rest (kernel/bpf/syscall.c,
        /// bpf_check_uarg_tail_zero).
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        internal unsafe struct ProgLoadAttr
        {
            public uint ProgType;
            public uint InsnCnt;
            public ulong Insns;
            public ulong License;
            public uint LogLevel;
            public uint LogSize;
            public ulong LogBuf;
            public uint KernVersion;
            public uint ProgFlags;
            public fixed byte ProgName[16];
            public uint ProgIfindex;
            public uint ExpectedAttachType;
        }

        /// <summary>syscall(2) with the bpf(2) arguments: glibc has no bpf() wrapper.</summary>
        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        internal static unsafe partial long Syscall(long number, int cmd, void* attr, uint size);
    }
}
