namespace Fathom.Cni;

/// <summary>
/// The code of a CNI error result. 1–99 are the spec's well-known codes (CNI spec 1.1,
/// "Error" section); 100 and above are Fathom's own, each documented in docs/cni.md. The
/// core's own are here; a mode's codes live with the mode, as constants of this type.
/// </summary>
public enum CniErrorCode
{
    /// <summary>The config's cniVersion is not one this plugin speaks, or the command needs a newer one.</summary>
    IncompatibleVersion = 1,
    /// <summary>A config field this plugin does not support.</summary>
    UnsupportedField = 2,
    /// <summary>The container does not exist or is unknown.</summary>
    UnknownContainer = 3,
    /// <summary>A required CNI_* variable is missing or malformed (CNI_COMMAND, CNI_IFNAME, CNI_ARGS, ...).</summary>
    InvalidEnvironment = 4,
    /// <summary>Reading stdin, writing stdout, or running a delegated plugin failed.</summary>
    IoFailure = 5,
    /// <summary>The network config (or a delegate's output) is not valid JSON.</summary>
    DecodeFailure = 6,
    /// <summary>The network config is valid JSON but wrong: a missing name, an unknown mode, a field of the wrong type.</summary>
    InvalidNetworkConfig = 7,
    /// <summary>A transient condition: the runtime should retry later (e.g. a device is momentarily busy).</summary>
    TryAgainLater = 11,
    /// <summary>STATUS: the plugin cannot serve ADD now.</summary>
    NotAvailable = 50,
    /// <summary>STATUS: the plugin can serve ADD, but pods will have limited connectivity.</summary>
    LimitedConnectivity = 51,

    // 100–103 belong to the datapath modes, defined with them as constants of this type: 102
    // and 103 to every mode (Fathom.Datapath's DatapathErrorCodes), the rest to the mode that
    // returns them. docs/cni.md lists every code.

    /// <summary>The kernel refused an operation of the datapath; the message carries the errno and the kernel's text.</summary>
    DatapathFailure = 104,
    /// <summary>The IPAM plugin named by <c>ipam.type</c> is not in any directory of CNI_PATH.</summary>
    IpamPluginNotFound = 105,
    /// <summary>The IPAM plugin failed without a spec error code: it crashed, printed something that is not a result, used a code of its own (its code is in the details), or hung and was killed.</summary>
    IpamFailure = 106,
    /// <summary>CHECK found the live state different from prevResult; the message names what drifted.</summary>
    CheckFailed = 107,
    /// <summary>An unexpected failure inside Fathom (a bug): the message says what, never a stack trace.</summary>
    InternalError = 199,
}
