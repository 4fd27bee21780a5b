namespace Fathom.Netlink;

/// <summary>
/// The one exception Fathom.Netlink throws: a request the kernel refused (with its errno and,
/// when the socket has <c>NETLINK_EXT_ACK</c>, the kernel's own extended-ack text), a system
/// call that failed, or a reply or argument that is malformed (<see cref="Errno"/> is then
/// <c>EINVAL</c> for arguments and <c>EPROTO</c> for replies).
/// </summary>
public sealed class NetlinkException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="errno">The positive Linux errno (e.g. 17 for <c>EEXIST</c>).</param>
    /// <param name="message">What was being done, for humans.</param>
    /// <param name="kernelMessage">The kernel's <c>NLMSGERR_ATTR_MSG</c> text, if it sent one.</param>
    public NetlinkException(int errno, string message, string? kernelMessage = null)
        : base(Compose(errno, message, kernelMessage))
    {
        Errno = errno;
        KernelMessage = kernelMessage;
    }

    /// <summary>Creates the exception from a typed errno.</summary>
    public NetlinkException(Fathom.Netlink.Errno errno, string message, string? kernelMessage = null)
        : this((int)errno, message, kernelMessage)
    {
    }

    /// <summary>The positive Linux errno (e.g. 17 for <c>EEXIST</c>, 19 for <c>ENODEV</c>).</summary>
    public int Errno { get; }

    /// <summary><see cref="Errno"/> as the typed enum, for <c>ex.Error == Errno.EEXIST</c>.</summary>
    public Fathom.Netlink.Errno Error => (Fathom.Netlink.Errno)Errno;

    /// <summary>The kernel's extended-ack message (<c>NLMSGERR_ATTR_MSG</c>), or null if none was sent.</summary>
    public string? KernelMessage { get; }

    /// <summary>True for EEXIST: the object being created is already there.</summary>
    public bool IsAlreadyExists => Errno == (int)Fathom.Netlink.Errno.EEXIST;

    /// <summary>
    /// True for the errnos rtnetlink uses for "no such object": ENODEV (link), ENOENT (route,
    /// rule, neighbour), ESRCH (route delete), EADDRNOTAVAIL (address delete).
    /// </summary>
    public bool IsNotFound => (Fathom.Netlink.Errno)Errno is Fathom.Netlink.Errno.ENODEV or Fathom.Netlink.Errno.ENOENT
        or Fathom.Netlink.Errno.ESRCH or Fathom.Netlink.Errno.EADDRNOTAVAIL;

    private static string Compose(int errno, string message, string? kernelMessage)
    {
        // The symbolic name for the errnos callers test for; for any other, the C library's text
        // (a bare "errno (96)" would send the operator to errno.h).
        string name = Enum.IsDefined((Fathom.Netlink.Errno)errno)
            ? ((Fathom.Netlink.Errno)errno).ToString()
            : System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno);
        string text = $"{message}: {name} ({errno})";
        return string.IsNullOrEmpty(kernelMessage) ? text : $"{text}: {kernelMessage}";
    }
}
