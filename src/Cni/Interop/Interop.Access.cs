using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    internal const int W_OK = 0x2;
    internal const int X_OK = 0x1;

    /// <summary>access(2): 0 when the calling process may access <paramref name="path"/> as asked (EROFS on a read-only mount even for root).</summary>
    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Access(string path, int mode);
}
