using System.Text;

namespace Fathom.Netlink;

public static partial class Netns
{
    /// <summary>
    /// Reads a network sysctl of <paramref name="netns"/>, e.g. <c>net.ipv4.ip_forward</c> or
    /// <c>net/ipv4/conf/eth0.100/rp_filter</c> (sysctl(8) syntax), without its trailing newline.
    /// </summary>
    /// <remarks>
    /// /proc/sys/net shows the namespace of the thread that opens the file (net/sysctl_net.c
    /// net_ctl_header_lookup uses current->nsproxy->net_ns), so the file is opened inside the
    /// namespace via <see cref="Run{T}(NetnsHandle, Func{T})"/>.
    /// </remarks>
    public static string ReadSysctl(NetnsHandle netns, string key)
    {
        var path = SysctlPath(key);
        return Run(netns, () => ProcFile(path, () => File.ReadAllText(path).TrimEnd('\n')));
    }

    /// <summary>Writes a network sysctl of <paramref name="netns"/>; see <see cref="ReadSysctl"/>.</summary>
    public static void WriteSysctl(NetnsHandle netns, string key, string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var path = SysctlPath(key);
        Run(netns, () => ProcFile(path, () =>
        {
            // One write(2) of the whole value: proc handlers parse each write on its own.
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
            file.Write(Encoding.UTF8.GetBytes(value));
            return 0;
        }));
    }

    /// <summary>
    /// The /proc/sys path of a key in sysctl(8)'s two spellings: with dots (where a slash stands
    /// for a dot inside a name, as in <c>net.ipv4.conf.eth0/100.rp_filter</c>) or with slashes.
    /// Only <c>net.*</c> keys are accepted: the others are not per namespace, and writing one
    /// "in a namespace" would change the whole machine.
    /// </summary>
    internal static string SysctlPath(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var firstSeparator = key.IndexOfAny(['.', '/']);
        var relative = firstSeparator >= 0 && key[firstSeparator] == '.'
            ? string.Create(key.Length, key, static (span, k) =>
            {
                for (var i = 0; i < k.Length; i++)
                    span[i] = k[i] switch { '.' => '/', '/' => '.', var c => c };
            })
            : key;
        var parts = relative.Split('/');
        if (parts.Length < 2 || parts[0] != "net" || parts.Any(p => p is "" or "." or ".."))
            throw new ArgumentException($"'{key}' is not a network sysctl (net.*)", nameof(key));
        return "/proc/sys/" + relative;
    }

    /// <summary>Runs a /proc file operation, turning the BCL's I/O exceptions into the library's one type.</summary>
    private static T ProcFile<T>(string path, Func<T> operation)
    {
        try
        {
            return operation();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // On Unix the BCL maps ENOENT and EACCES/EPERM to their own types and puts the raw
            // errno in HResult for every other IOException (Interop.GetExceptionForIoErrno).
            var errno = e switch
            {
                FileNotFoundException or DirectoryNotFoundException => (int)Errno.ENOENT,
                UnauthorizedAccessException => (int)Errno.EACCES,
                _ when e.HResult is > 0 and < 4096 => e.HResult,
                _ => (int)Errno.EIO,
            };
            throw new NetlinkException(errno, $"cannot access {path}");
        }
    }
}
