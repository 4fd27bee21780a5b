namespace Fathom.Netlink;

/// <summary>
/// The Linux errno values Fathom.Netlink and its callers test for (include/uapi/asm-generic/errno-base.h
/// and errno.h; identical on x86-64 and arm64). Compare with <see cref="NetlinkException.Error"/>.
/// Other values pass through unchanged as their number.
/// </summary>
public enum Errno
{
    /// <summary>Operation not permitted.</summary>
    EPERM = 1,
    /// <summary>No such file or directory (also: no such route, rule, neighbour).</summary>
    ENOENT = 2,
    /// <summary>No such process (also: no such route in a delete).</summary>
    ESRCH = 3,
    /// <summary>Interrupted system call.</summary>
    EINTR = 4,
    /// <summary>I/O error (also: the fallback when the BCL did not say which errno it saw).</summary>
    EIO = 5,
    /// <summary>Bad file descriptor.</summary>
    EBADF = 9,
    /// <summary>Try again.</summary>
    EAGAIN = 11,
    /// <summary>Out of memory.</summary>
    ENOMEM = 12,
    /// <summary>Permission denied.</summary>
    EACCES = 13,
    /// <summary>Device or resource busy.</summary>
    EBUSY = 16,
    /// <summary>File exists: the link, address, route, rule or entry is already there.</summary>
    EEXIST = 17,
    /// <summary>No such device: the interface does not exist.</summary>
    ENODEV = 19,
    /// <summary>Invalid argument (also: a malformed argument this library refused to send).</summary>
    EINVAL = 22,
    /// <summary>Not a typewriter: an ioctl the file does not know (NS_GET_NSTYPE on a file that is no namespace).</summary>
    ENOTTY = 25,
    /// <summary>Text file busy: exec of a file open for writing.</summary>
    ETXTBSY = 26,
    /// <summary>Numerical result out of range.</summary>
    ERANGE = 34,
    /// <summary>Protocol error: a reply this library could not parse.</summary>
    EPROTO = 71,
    /// <summary>Message too long.</summary>
    EMSGSIZE = 90,
    /// <summary>Operation not supported.</summary>
    EOPNOTSUPP = 95,
    /// <summary>Address family not supported.</summary>
    EAFNOSUPPORT = 97,
    /// <summary>Cannot assign requested address (also: no such address on delete).</summary>
    EADDRNOTAVAIL = 99,
    /// <summary>Network is unreachable (a gateway with no route to it).</summary>
    ENETUNREACH = 101,
    /// <summary>No buffer space: a multicast listener fell behind and lost events.</summary>
    ENOBUFS = 105,
    /// <summary>Connection timed out.</summary>
    ETIMEDOUT = 110,
}
