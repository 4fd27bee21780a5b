namespace Fathom.Netlink;

/// <summary>
/// The one exception Fathom.Netlink throws: a request the kernel refused (with its errno and,
/// when the socket has <c>NETLINK_EXT_ACK</c>, the kernel's own extended-ack text), a system
/// call that failed, or a reply or argument that is malformed (<see cref="Errno"/> is then
/// <c>EINVAL</c> or <c>EPROTO</c>).
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

    /// <summary>The positive Linux errno (e.g. 17 for <c>EEXIST</c>, 19 for <c>ENODEV</c>).</summary>
    public int Errno { get; }

    /// <summary>The kernel's extended-ack message (<c>NLMSGERR_ATTR_MSG</c>), or null if none was sent.</summary>
    public string? KernelMessage { get; }

    private static string Compose(int errno, string message, string? kernelMessage)
    {
        string text = $"{message}: errno {errno}";
        return string.IsNullOrEmpty(kernelMessage) ? text : $"{text} ({kernelMessage})";
    }
}
