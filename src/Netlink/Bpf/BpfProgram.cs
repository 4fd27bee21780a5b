using System.Runtime.InteropServices;
using System.Text;

namespace Fathom.Netlink;

/// <summary>
/// A loaded eBPF program: the descriptor bpf(BPF_PROG_LOAD) returned (O_CLOEXEC, kernel/bpf/syscall.c
/// bpf_prog_new_fd). The kernel keeps the program while a descriptor or an attachment (a tc filter,
/// <see cref="NetlinkHandle.ReplaceTcBpfFilter"/>) holds it, so a caller may dispose of this once the
/// program is attached.
/// </summary>
public sealed class BpfProgram : SafeHandle
{
    /// <summary>The verifier's log when a program is refused: enough for the programs Fathom loads (a few hundred instructions).</summary>
    private const int LogSize = 64 * 1024;

    private BpfProgram(int fd) : base(invalidHandleValue: -1, ownsHandle: true) => SetHandle(fd);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor, for TCA_BPF_FD.</summary>
    public int Fd => (int)handle;

    /// <summary>
    /// Loads a tc classifier (BPF_PROG_TYPE_SCHED_CLS) from its instructions, struct bpf_insn as the
    /// kernel reads them (8 bytes each, host byte order) and free of relocations. On a refusal the
    /// program is loaded once more with the verifier's log on, and the log's last lines come with the
    /// exception, as libbpf does (tools/lib/bpf/bpf.c bpf_prog_load). EAGAIN is retried, as libbpf does.
    /// </summary>
    /// <param name="instructions">The instructions; their length a multiple of 8.</param>
    /// <param name="name">The program's name (<c>bpftool prog</c>, TCA_BPF_NAME): up to 15 characters of [A-Za-z0-9_.].</param>
    /// <param name="license">GPL-only helpers (bpf_fib_lookup, bpf_redirect_peer) need a GPL-compatible one.</param>
    /// <exception cref="NetlinkException">EINVAL for bad arguments; the kernel's errno (EPERM without CAP_BPF, EINVAL or EACCES from the verifier) otherwise.</exception>
    public static BpfProgram LoadClassifier(ReadOnlySpan<byte> instructions, string name, string license)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(license);
        if (instructions.IsEmpty || instructions.Length % 8 != 0)
            throw new NetlinkException(Errno.EINVAL, $"load bpf program {name}: {instructions.Length} bytes is not a whole number of 8-byte instructions");
        if (name.Length > 15 || name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '_' or '.')))
            throw new NetlinkException(Errno.EINVAL, $"load bpf program: '{name}' is not a program name (up to 15 of A-Z a-z 0-9 _ .)");
        var fd = Load(instructions, name, license, log: null, out var errno);
        if (fd >= 0) return new BpfProgram(fd);
        var log = new byte[LogSize];
        fd = Load(instructions, name, license, log, out _);
        if (fd >= 0) return new BpfProgram(fd); // refused once, accepted now: a transient refusal
        throw new NetlinkException(errno, $"load bpf program {name} ({instructions.Length / 8} instructions)", VerifierTail(log));
    }

    private static unsafe int Load(ReadOnlySpan<byte> instructions, string name, string license, byte[]? log, out int errno)
    {
        var licenseBytes = Encoding.ASCII.GetBytes(license + "\0");
        fixed (byte* insns = instructions)
        fixed (byte* lic = licenseBytes)
        fixed (byte* logBuffer = log)
        {
            var attr = new Interop.Bpf.ProgLoadAttr
            {
                ProgType = Interop.Bpf.BPF_PROG_TYPE_SCHED_CLS,
                InsnCnt = (uint)(instructions.Length / 8),
                Insns = (ulong)insns,
                License = (ulong)lic,
                LogLevel = log is null ? 0u : 1u,
                LogSize = log is null ? 0u : (uint)log.Length,
                LogBuf = (ulong)logBuffer,
            };
            Encoding.ASCII.GetBytes(name, new Span<byte>(attr.ProgName, 15));
            for (var attempt = 0; ; attempt++)
            {
                var fd = Interop.Bpf.Syscall(Interop.Bpf.SYS_bpf, Interop.Bpf.BPF_PROG_LOAD, &attr, (uint)sizeof(Interop.Bpf.ProgLoadAttr));
                errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
                if (fd >= 0 || errno != (int)Errno.EAGAIN || attempt == 4) return (int)fd;
            }
        }
    }

    /// <summary>The verifier log's last lines, where it says why (the whole log walks every instruction).</summary>
    internal static string? VerifierTail(ReadOnlySpan<byte> log)
    {
        var end = log.IndexOf((byte)0);
        var text = Encoding.ASCII.GetString(end < 0 ? log : log[..end]).Trim();
        if (text.Length == 0) return null;
        var lines = text.Split('\n');
        return "verifier: " + string.Join(" | ", lines[Math.Max(0, lines.Length - 4)..]);
    }

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => Interop.Close((int)handle) == 0;
}
