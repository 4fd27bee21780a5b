using System.Net.NetworkInformation;
using System.Text;

namespace Fathom.Netlink;

/// <summary>The kernel's rules for interface names and the way iproute2 writes MACs, in one place.</summary>
public static class InterfaceNames
{
    /// <summary>IFNAMSIZ less the terminating NUL.</summary>
    public const int MaxBytes = 15;

    /// <summary>
    /// The kernel's dev_valid_name (net/core/dev.c): 1–15 bytes, not "." or "..", no '/', ':' or
    /// whitespace as its isspace() knows it (space, \t, \n, \v, \f, \r).
    /// </summary>
    public static bool IsValid(string name) =>
        name.Length > 0 && Encoding.UTF8.GetByteCount(name) <= MaxBytes && name is not ("." or "..")
        && name.AsSpan().IndexOfAny("/: \t\n\v\f\r") < 0;

    /// <summary>A MAC in lower-case colon form, as iproute2, CNI results and EC2 write it.</summary>
    public static string FormatMac(PhysicalAddress mac) =>
        string.Join(':', mac.GetAddressBytes().Select(b => b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)));
}
