using System.Runtime.InteropServices;
using Fathom.Netlink;

namespace Fathom.Lab;

/// <summary>Signals to processes the lab started (dnsmasq reloads, the server's stop).</summary>
internal static class Signal
{
    public const int SIGHUP = 1;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;

    /// <summary>Sends a signal; false when the process no longer exists.</summary>
    public static bool Send(int pid, int signal)
    {
        if (Interop.kill(pid, signal) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == (int)Errno.ESRCH) return false;
        throw new InvalidOperationException($"kill({pid}, {signal}) failed: {Marshal.GetPInvokeErrorMessage(errno)} ({errno})");
    }

    /// <summary>True while /proc/{pid} exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // Field 3 (after the parenthesised comm, which may contain spaces) is the state.
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] != 'Z';
        }
        catch (IOException) { return false; }
        catch (UnauthorizedAccessException) { return false; }
    }

    /// <summary>argv of a process (NUL-separated in /proc/{pid}/cmdline), empty when it is gone.</summary>
    public static IReadOnlyList<string> CommandLine(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries); }
        catch (IOException) { return []; }
        catch (UnauthorizedAccessException) { return []; }
    }
}
