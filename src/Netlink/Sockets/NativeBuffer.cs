using System.Runtime.InteropServices;

namespace Fathom.Netlink.Sockets;

/// <summary>
/// A socket's send or receive buffer in native memory (malloc, freed on dispose). The buffers were
/// rented from <c>ArrayPool&lt;byte&gt;.Shared</c>; returning the second socket's while the first's
/// was still held was one of the paths that ran .NET's processor-id calibration in a plugin process
/// (≈ 0.1 ms; IpPrefix's remarks, docs/benchmarks.md "Fewer requests, one queue, no calibration").
/// Page faults did not change with it (perf stat of a shared ADD: 184 before, 186 after).
/// </summary>
internal sealed unsafe class NativeBuffer : SafeHandle
{
    public NativeBuffer(int length) : base(0, ownsHandle: true)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        SetHandle((nint)NativeMemory.Alloc((nuint)length));
        Length = length;
    }

    public int Length { get; }

    public override bool IsInvalid => handle == 0;

    public byte* Pointer => (byte*)handle;

    /// <summary>The whole buffer. Valid while this buffer is not disposed: callers hold it for one request.</summary>
    public Span<byte> Span => new((void*)handle, Length);

    protected override bool ReleaseHandle()
    {
        NativeMemory.Free((void*)handle);
        return true;
    }
}
