using Fathom.Cni;

namespace Fathom.Datapath;

/// <summary>
/// Fathom's error codes that every datapath mode returns the same way (documented in
/// docs/cni.md). Codes of one mode alone live with that mode (e.g. UnderlayErrorCodes);
/// the spec's codes and the core's (104–107, 199) are <see cref="CniErrorCode"/>.
/// </summary>
public static class DatapathErrorCodes
{
    /// <summary>CNI_NETNS does not name a network namespace that can be opened, or names the plugin's own.</summary>
    public const CniErrorCode NetnsNotFound = (CniErrorCode)102;

    /// <summary>ADD: CNI_IFNAME already exists in the pod's namespace (CNI spec: ADD must fail then).</summary>
    public const CniErrorCode IfNameExists = (CniErrorCode)103;
}
