using System.Runtime.InteropServices;
using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// Standard input, output or error as plain read(2)/write(2) on descriptor 0, 1 or 2.
/// Not <see cref="System.Console"/>: its first write sets up terminal and signal handling
/// (a pipe, a thread, Console.Out), start-up time a plugin does not need. Not a
/// <see cref="FileStream"/> either: on a regular file it writes at its own offset (pwrite)
/// and would overwrite what a shell redirect already holds; write(2) appends at the shared offset.
/// </summary>
internal sealed class StandardStream(int fd, bool writable) : Stream
{
    public override bool CanRead => !writable;
    public override bool CanWrite => writable;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override unsafe int Read(Span<byte> buffer)
    {
        if (!CanRead) throw new NotSupportedException();
        if (buffer.IsEmpty) return 0;
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Interop.Read(fd, p, (nuint)buffer.Length);
                if (n >= 0) return (int)n;
                var errno = Marshal.GetLastPInvokeError();
                if (errno != (int)Errno.EINTR) throw new IOException($"read from descriptor {fd} failed: {Marshal.GetPInvokeErrorMessage(errno)} ({errno})");
            }
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override unsafe void Write(ReadOnlySpan<byte> buffer)
    {
        if (!CanWrite) throw new NotSupportedException();
        fixed (byte* p = buffer)
        {
            var written = 0;
            while (written < buffer.Length)
            {
                var n = Interop.Write(fd, p + written, (nuint)(buffer.Length - written));
                if (n >= 0)
                {
                    written += (int)n;
                    continue;
                }
                var errno = Marshal.GetLastPInvokeError();
                if (errno != (int)Errno.EINTR) throw new IOException($"write to descriptor {fd} failed: {Marshal.GetPInvokeErrorMessage(errno)} ({errno})");
            }
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
