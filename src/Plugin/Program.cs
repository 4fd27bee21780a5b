namespace Fathom.Plugin;

internal static class Program
{
    private static int Main() => 0; // replaced by the CNI dispatcher (issue 3)
}
