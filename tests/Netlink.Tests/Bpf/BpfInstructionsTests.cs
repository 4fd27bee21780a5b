namespace Fathom.Netlink.Tests.Bpf;

/// <summary><see cref="BpfInstructions"/>: the bytes a kfunc call and a patched load end up as.</summary>
public sealed class BpfInstructionsTests
{
    [Fact]
    public void A_call_becomes_a_vmlinux_kfunc_call_and_a_marker_load_gets_the_offset()
    {
        byte[] program =
        [
            0x85, 0x10, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // call -1, src_reg 1: clang's call of a .ksyms extern
            0x79, 0x08, 0xa8, 0x7b, 0x00, 0x00, 0x00, 0x00, // r8 = *(u64 *)(r0 + 0x7ba8)
            0x95, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // exit
        ];
        BpfInstructions.SetKfuncCall(program, 0, 0x12345);
        BpfInstructions.SetLoadOffset(program, 1, 0x7ba8, 0x88);
        Assert.Equal([0x85, 0x20, 0x00, 0x00, 0x45, 0x23, 0x01, 0x00], program[..8]); // src_reg 2 (BPF_PSEUDO_KFUNC_CALL), imm the BTF id
        Assert.Equal([0x79, 0x08, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00], program[8..16]);

        Assert.Throws<InvalidOperationException>(() => BpfInstructions.SetKfuncCall(program, 2, 1)); // an exit
        Assert.Throws<InvalidOperationException>(() => BpfInstructions.SetLoadOffset(program, 1, 0x7ba8, 8)); // marker already replaced
        Assert.Throws<InvalidOperationException>(() => BpfInstructions.SetKfuncCall(program, 3, 1)); // past the end
    }
}
