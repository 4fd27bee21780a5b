using System.Runtime.InteropServices;

namespace Fathom.Agent;

internal static partial class Interop
{
    /// <summary>write(2) of <paramref name="count"/> bytes from the start of <paramref name="buffer"/> (pinned for the call).</summary>
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static partial nint Write(int fd, ReadOnlySpan<byte> buffer, nuint count);

    /// <summary>rename(2).</summary>
    [LibraryImport("libc", EntryPoint = "rename", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Rename(string from, string to);

    /// <summary>unlink(2).</summary>
    [LibraryImport("libc", EntryPoint = "unlink", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Unlink(string path);

    internal const int ENoEnt = 2;
    internal const int EIntr = 4;
    internal const int EExist = 17;
}
