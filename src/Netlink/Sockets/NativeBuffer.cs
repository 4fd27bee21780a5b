using System.Runtime.InteropServices;

namespace Fathom.Netlink.Sockets;

/// <summary>
/// A socket's send or receive buffer in native memory (malloc, never zeroed). A managed array of
/// that size is cleared by the GC before it is handed out, which touches every page of it: for a
/// short-lived plugin process that is a page fault and a clear per 4 KiB of buffers it mostly never
/// uses (a netlink ACK is 36 bytes of a 32 KiB buffer). Here only the pages the kernel or a writer
/// fill are ever touched (docs/benchmarks.md, "Where the plugin's CPU went").
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
