using System.Text;
using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// The spec's syntax rules for names (CNI spec 1.1 §"Parameters"; reference pkg/utils):
/// container IDs and network names match <c>^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$</c>; an interface
/// name is 1–15 bytes (IFNAMSIZ − 1), not "." or "..", without '/', ':' or whitespace.
/// </summary>
public static class CniSyntax
{
    /// <summary>True for a valid container ID or network name.</summary>
    public static bool IsValidName(string value)
    {
        if (value.Length == 0 || !char.IsAsciiLetterOrDigit(value[0])) return false;
        foreach (var c in value.AsSpan(1))
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('_' or '.' or '-')) return false;
        return true;
    }

    /// <summary>Throws error 4 unless <paramref name="id"/> is a valid CNI_CONTAINERID.</summary>
    public static void ValidateContainerId(string id)
    {
        if (id.Length == 0)
            throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_CONTAINERID is empty");
        if (!IsValidName(id))
            throw new CniException(CniErrorCode.InvalidEnvironment, "invalid characters in CNI_CONTAINERID", id);
    }

    /// <summary>
    /// Throws error 4 unless <paramref name="ifName"/> is a valid CNI_IFNAME: libcni's
    /// ValidateInterfaceName, i.e. the kernel's dev_valid_name (<see cref="InterfaceNames.IsValid"/>)
    /// with any Unicode whitespace refused (Go's unicode.IsSpace), each failure with its own message.
    /// </summary>
    public static void ValidateInterfaceName(string ifName)
    {
        if (ifName.Length == 0)
            throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_IFNAME is empty");
        if (Encoding.UTF8.GetByteCount(ifName) > InterfaceNames.MaxBytes)
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_IFNAME \"{ifName}\" is too long",
                $"an interface name has at most {InterfaceNames.MaxBytes} bytes");
        if (ifName is "." or "..")
            throw new CniException(CniErrorCode.InvalidEnvironment, $"CNI_IFNAME \"{ifName}\" is . or ..");
        foreach (var rune in ifName.EnumerateRunes())
            if (rune.Value is '/' or ':' || Rune.IsWhiteSpace(rune))
                throw new CniException(CniErrorCode.InvalidEnvironment,
                    $"CNI_IFNAME \"{ifName}\" contains / or : or whitespace");
    }
}
