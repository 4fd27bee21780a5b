using System.Buffers.Binary;

namespace Fathom.Netlink;

/// <summary>A call to a kfunc at instruction <paramref name="Instruction"/> (counted in 8-byte units) of a program.</summary>
/// <param name="Instruction">The call instruction's index.</param>
/// <param name="Kfunc">The kernel function it calls, by the name its BTF gives it.</param>
public readonly record struct KfuncCall(int Instruction, string Kfunc);

/// <summary>
/// The patches a loader without libbpf makes to a program's instructions (struct bpf_insn: code,
/// dst_reg:4 | src_reg:4, s16 off, s32 imm; include/uapi/linux/bpf.h) before bpf(BPF_PROG_LOAD).
/// </summary>
public static class BpfInstructions
{
    private const byte Call = 0x85;           // BPF_JMP | BPF_CALL
    private const byte LoadDoubleWord = 0x79; // BPF_LDX | BPF_MEM | BPF_DW
    private const byte PseudoKfuncCall = 2;   // BPF_PSEUDO_KFUNC_CALL: imm is a BTF id, off the BTF (0: vmlinux)

    /// <summary>
    /// Makes the call at <paramref name="instruction"/> a call of the vmlinux kfunc whose BTF id is
    /// <paramref name="btfId"/> (what libbpf writes for a __ksym extern: kernel/bpf/verifier.c add_kfunc_call).
    /// </summary>
    /// <exception cref="InvalidOperationException">The instruction is not a call.</exception>
    public static void SetKfuncCall(Span<byte> program, int instruction, int btfId)
    {
        var insn = At(program, instruction);
        if (insn[0] != Call)
            throw new InvalidOperationException($"instruction {instruction} is not a call (opcode 0x{insn[0]:x2}); regenerate the program");
        insn[1] = (byte)(PseudoKfuncCall << 4 | (insn[1] & 0x0f));
        BinaryPrimitives.WriteInt16LittleEndian(insn[2..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(insn[4..], btfId);
    }

    /// <summary>
    /// Writes <paramref name="offset"/> over the <paramref name="marker"/> offset of the 8-byte load at
    /// <paramref name="instruction"/>: a field's offset in a kernel struct, known only from the kernel's BTF.
    /// </summary>
    /// <exception cref="InvalidOperationException">The instruction is not such a load with the marker.</exception>
    public static void SetLoadOffset(Span<byte> program, int instruction, short marker, short offset)
    {
        var insn = At(program, instruction);
        if (insn[0] != LoadDoubleWord || BinaryPrimitives.ReadInt16LittleEndian(insn[2..]) != marker)
            throw new InvalidOperationException($"instruction {instruction} is not an 8-byte load at the marker offset 0x{marker:x4}; regenerate the program");
        BinaryPrimitives.WriteInt16LittleEndian(insn[2..], offset);
    }

    private static Span<byte> At(Span<byte> program, int instruction)
    {
        if (instruction < 0 || (instruction + 1) * 8 > program.Length)
            throw new InvalidOperationException($"instruction {instruction} lies outside the {program.Length / 8}-instruction program");
        return program.Slice(instruction * 8, 8);
    }
}
