using System.Runtime.InteropServices;

namespace Fathom.Cni;

internal static partial class Interop
{
    /// <summary>getenv(3): a pointer into the process's environment, or null when unset.</summary>
    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial nint GetEnv(string name);
}
