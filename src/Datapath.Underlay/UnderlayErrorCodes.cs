using Fathom.Cni;

namespace Fathom.Datapath.Underlay;

/// <summary>
/// The underlay mode's own error codes (README.md beside this file, and docs/cni.md). The codes
/// every mode shares are <see cref="Fathom.Datapath.DatapathErrorCodes"/>.
/// </summary>
public static class UnderlayErrorCodes
{
    /// <summary>ADD: the device named by <c>device</c>, <c>hwaddr</c> or <c>kernelpath</c> is not on the host. (A device missing from the pod is no error on DEL, and 107 on CHECK.)</summary>
    public const CniErrorCode DeviceNotFound = (CniErrorCode)100;

    /// <summary>The device exists but cannot be taken (a loopback, enslaved), or DEL cannot return it (its name is taken on the host, or its alias naming it was cleared in the pod).</summary>
    public const CniErrorCode DeviceBusy = (CniErrorCode)101;
}
