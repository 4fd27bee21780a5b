using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// A failure that becomes a CNI error result: <c>{cniVersion, code, msg, details}</c> on stdout
/// and a non-zero exit. The message names the field, device or namespace at fault.
/// Only the plugin's entry point (<see cref="CniSkeleton"/>) turns exceptions into that JSON.
/// </summary>
public sealed class CniException : Exception
{
    /// <summary>Creates a CNI error with its code, message and optional details.</summary>
    public CniException(CniErrorCode code, string message, string? details = null)
        : base(message)
    {
        Code = code;
        Details = details;
    }

    /// <summary>Creates a CNI error that wraps its cause (kept for the log file, never printed as a trace).</summary>
    public CniException(CniErrorCode code, string message, string? details, Exception? inner)
        : base(message, inner)
    {
        Code = code;
        Details = details;
    }

    /// <summary>The CNI error code (spec code, or Fathom's own ≥ 100).</summary>
    public CniErrorCode Code { get; }

    /// <summary>The longer explanation (the spec's <c>details</c>), or null.</summary>
    public string? Details { get; }

    /// <summary>
    /// The code for any exception, in the one place that decides it: a CNI error keeps its own; a
    /// kernel refusal is 104 (its message carries the errno and the kernel's text), an I/O
    /// failure 5, anything else 199 (a bug in Fathom).
    /// </summary>
    public static CniErrorCode CodeFor(Exception e) => e switch
    {
        CniException c => c.Code,
        NetlinkException => CniErrorCode.DatapathFailure,
        IOException or UnauthorizedAccessException => CniErrorCode.IoFailure,
        _ => CniErrorCode.InternalError,
    };
}
