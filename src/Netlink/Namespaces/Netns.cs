using System.Globalization;
using System.Runtime.InteropServices;

namespace Fathom.Netlink;

/// <summary>
/// Named network namespaces the way iproute2 keeps them (bind mounts under
/// <see cref="RunDirectory"/>, so <c>ip netns list</c> and <c>ip netns exec</c> see them), handles
/// on any namespace, and running code inside one on a dedicated thread.
/// </summary>
/// <remarks>
/// Nothing here ever moves the calling thread: a thread that must enter a namespace is a new
/// thread made for that purpose and discarded afterwards (STYLE.md §3). To configure a
/// namespace, prefer a netlink handle opened in it over <see cref="Run{T}"/>.
/// </remarks>
public static partial class Netns
{
    /// <summary>Where named namespaces live (iproute2's NETNS_RUN_DIR).</summary>
    public const string RunDirectory = "/run/netns";

    /// <summary>
    /// Creates the named namespace exactly as <c>ip netns add NAME</c> does and returns a handle
    /// on it. Throws <see cref="NetlinkException"/> with errno <c>EEXIST</c> if the name is taken.
    /// </summary>
    public static NetnsHandle Create(string name)
    {
        var path = PathOf(name);
        MakeRunDirectoryShared();

        // iproute2 ip/ipnetns.c netns_add: create the mount point with O_EXCL first, so that two
        // creators of one name cannot both succeed; mode 0 because nothing ever reads the file itself.
        var fd = Interop.Ns.Open(path, Interop.Ns.O_RDONLY | Interop.Ns.O_CREAT | Interop.Ns.O_EXCL | Interop.Ns.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetlinkException(errno, $"cannot create netns '{name}' at {path}");
        }
        Interop.Close(fd);

        try
        {
            // unshare(CLONE_NEWNET) moves only the calling thread, so do it on a thread of our own
            // that dies afterwards; the bind mount is what keeps the new namespace alive.
            RunOnDedicatedThread($"netns-add {name}", () =>
            {
                if (Interop.Ns.Unshare(Interop.Ns.CLONE_NEWNET) != 0)
                    throw new NetlinkException(Marshal.GetLastPInvokeError(), $"cannot create netns '{name}': unshare(CLONE_NEWNET)");
                // /proc/thread-self is this thread's /proc/self/task/<tid>: the namespace we just made,
                // not the process's (which /proc/self/ns/net would name).
                if (Interop.Ns.Mount("/proc/thread-self/ns/net", path, "none", Interop.Ns.MS_BIND, 0) != 0)
                    throw new NetlinkException(Marshal.GetLastPInvokeError(), $"cannot bind-mount the new netns onto {path}");
                return 0;
            });
            return OpenPath(path);
        }
        catch
        {
            // As netns_add's out_delete: leave no half-made namespace file behind.
            Interop.Ns.Umount2(path, Interop.Ns.MNT_DETACH);
            Interop.Ns.Unlink(path);
            throw;
        }
    }

    /// <summary>
    /// Creates a network namespace with no name: nothing under <see cref="RunDirectory"/>, no
    /// mount, nothing to delete. The returned handle (and anything moved into the namespace) is
    /// all that keeps it alive, so a process killed at any point leaves nothing behind.
    /// </summary>
    public static NetnsHandle CreateAnonymous() =>
        // The unsharing thread is ours and ends here; the open fd keeps the namespace.
        RunOnDedicatedThread("netns-anonymous", () =>
        {
            if (Interop.Ns.Unshare(Interop.Ns.CLONE_NEWNET) != 0)
                throw new NetlinkException(Marshal.GetLastPInvokeError(), "cannot create an anonymous netns: unshare(CLONE_NEWNET)");
            return OpenPath("/proc/thread-self/ns/net");
        });

    /// <summary>
    /// Deletes the named namespace as <c>ip netns del NAME</c> does: a lazy unmount and unlink.
    /// The namespace itself lives on while a process or an open <see cref="NetnsHandle"/> holds it.
    /// Throws <see cref="NetlinkException"/> with errno <c>ENOENT</c> if there is no such name.
    /// </summary>
    public static void Delete(string name)
    {
        if (!TryDelete(name))
            throw new NetlinkException((int)Errno.ENOENT, $"cannot delete netns '{name}' at {PathOf(name)}");
    }

    /// <summary>Deletes the named namespace; false when there is no such name.</summary>
    public static bool TryDelete(string name)
    {
        var path = PathOf(name);
        // iproute2 ip/ipnetns.c on_netns_del ignores umount2's result: the file may be a stale
        // leftover that was never (or is no longer) a mount point, and must go all the same.
        Interop.Ns.Umount2(path, Interop.Ns.MNT_DETACH);
        if (Interop.Ns.Unlink(path) == 0) return true;
        var errno = Marshal.GetLastPInvokeError();
        if (errno == (int)Errno.ENOENT) return false;
        throw new NetlinkException(errno, $"cannot remove netns file {path}");
    }

    /// <summary>True when the namespace file exists: a bare name under <see cref="RunDirectory"/>, or a path (as <see cref="Open"/> reads them).</summary>
    public static bool Exists(string nameOrPath) => File.Exists(Resolve(nameOrPath));

    /// <summary>The names under <see cref="RunDirectory"/>, sorted; empty when the directory does not exist.</summary>
    public static IReadOnlyList<string> List()
    {
        if (!Directory.Exists(RunDirectory)) return [];
        var names = Directory.GetFiles(RunDirectory).Select(System.IO.Path.GetFileName).OfType<string>().ToList();
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>
    /// Opens a namespace: a bare name means <c>/run/netns/NAME</c>, anything with a slash is a path
    /// (e.g. <c>/proc/1234/ns/net</c>, <c>/var/run/netns/cni-…</c> as CNI_NETNS gives it).
    /// </summary>
    public static NetnsHandle Open(string nameOrPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(nameOrPath);
        return OpenPath(Resolve(nameOrPath));
    }

    // A bare name means /run/netns/NAME; anything with a slash is a path.
    private static string Resolve(string nameOrPath) => nameOrPath.Contains('/') ? nameOrPath : PathOf(nameOrPath);

    /// <summary>Opens the network namespace of a process.</summary>
    public static NetnsHandle OpenPid(int pid)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(pid);
        return OpenPath($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/ns/net");
    }

    /// <summary>Opens the calling thread's network namespace (which may differ from the process's).</summary>
    public static NetnsHandle OpenCurrent() => OpenPath("/proc/thread-self/ns/net");

    private static NetnsHandle OpenPath(string path)
    {
        var fd = Interop.Ns.Open(path, Interop.Ns.O_RDONLY | Interop.Ns.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new NetlinkException(errno, $"cannot open network namespace {path}");
        }
        ulong inode;
        try
        {
            inode = InodeOf(fd, path);
        }
        catch
        {
            Interop.Close(fd);
            throw;
        }
        return new NetnsHandle(fd, inode, path);
    }

    private static string PathOf(string name)
    {
        // iproute2 ip/ipnetns.c is_valid_netns_name: one path component, never "." or "..".
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('/') || name is "." or ".." || name.Length > 255)
            throw new ArgumentException($"invalid netns name '{name}'", nameof(name));
        return RunDirectory + "/" + name;
    }

    /// <summary>
    /// Makes <see cref="RunDirectory"/> a shared mount point, as iproute2 ip/ipnetns.c netns_add
    /// does, so that a namespace unmounted (deleted) in one mount namespace is unmounted in all of
    /// them and can be freed. Serialized with flock on the directory because concurrent attempts
    /// stack bind mounts without end (Debian bug 949235); like iproute2, go on without the lock
    /// if it cannot be taken.
    /// </summary>
    private static void MakeRunDirectoryShared()
    {
        // S_IRWXU|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH, as iproute2 creates it.
        if (Interop.Ns.Mkdir(RunDirectory, 0b111_101_101) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != (int)Errno.EEXIST) throw new NetlinkException(errno, $"cannot create {RunDirectory}");
        }

        var lockFd = Interop.Ns.Open(RunDirectory, Interop.Ns.O_RDONLY | Interop.Ns.O_CLOEXEC, 0);
        if (lockFd >= 0)
            while (Interop.Ns.Flock(lockFd, Interop.Ns.LOCK_EX) != 0 && Marshal.GetLastPInvokeError() == (int)Errno.EINTR) { }
        try
        {
            var madeMountPoint = false;
            while (Interop.Ns.Mount("", RunDirectory, "none", Interop.Ns.MS_SHARED | Interop.Ns.MS_REC, 0) != 0)
            {
                // EINVAL: the directory is not a mount point yet. Make it one (a bind mount of
                // itself) and try once more; any other error, or EINVAL again, is final.
                var errno = Marshal.GetLastPInvokeError();
                if (errno != (int)Errno.EINVAL || madeMountPoint)
                    throw new NetlinkException(errno, $"cannot make {RunDirectory} a shared mount");
                if (Interop.Ns.Mount(RunDirectory, RunDirectory, "none", Interop.Ns.MS_BIND | Interop.Ns.MS_REC, 0) != 0)
                    throw new NetlinkException(Marshal.GetLastPInvokeError(), $"cannot bind-mount {RunDirectory} onto itself");
                madeMountPoint = true;
            }
        }
        finally
        {
            if (lockFd >= 0)
            {
                Interop.Ns.Flock(lockFd, Interop.Ns.LOCK_UN);
                Interop.Close(lockFd);
            }
        }
    }

    /// <summary>
    /// Checks that an open fd is a network namespace (NS_GET_NSTYPE, fs/nsfs.c ns_ioctl) and
    /// returns its nsfs inode. A file that is not a namespace at all, such as a stale /run/netns
    /// entry whose bind mount is gone, fails here rather than later inside setns.
    /// </summary>
    private static unsafe ulong InodeOf(int fd, string path)
    {
        var type = Interop.Ns.Ioctl(fd, Interop.Ns.NS_GET_NSTYPE);
        if (type < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == (int)Errno.ENOTTY
                ? new NetlinkException((int)Errno.EINVAL, $"{path} is not a network namespace")
                : new NetlinkException(errno, $"cannot query namespace type of {path}");
        }
        if (type != Interop.Ns.CLONE_NEWNET)
            throw new NetlinkException((int)Errno.EINVAL, $"{path} is a namespace, but not a network namespace");

        var statx = stackalloc byte[Interop.Ns.StatxSize];
        if (Interop.Ns.Statx(fd, "", Interop.Ns.AT_EMPTY_PATH, Interop.Ns.STATX_INO, statx) != 0)
            throw new NetlinkException(Marshal.GetLastPInvokeError(), $"cannot stat {path}");
        return *(ulong*)(statx + Interop.Ns.StatxInoOffset); // native byte order, 8-aligned
    }
}
