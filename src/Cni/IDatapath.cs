namespace Fathom.Cni;

/// <summary>
/// One datapath mode (underlay, shared, host-gw, overlay). The core (<see cref="CniCommands"/>)
/// does environment and config validation, delegated IPAM, chaining and result versioning
/// around it; a mode only wires the kernel.
/// </summary>
public interface IDatapath
{
    /// <summary>
    /// Rejects a config this mode cannot serve (throw <see cref="CniException"/> with
    /// <see cref="CniErrorCode.InvalidNetworkConfig"/>), before IPAM allocates anything.
    /// </summary>
    void ValidateConfig(NetworkConfig config) { }

    /// <summary>
    /// ADD: attach the container. Returns this plugin's result: its Interfaces, and the IPAM
    /// IPs with their <see cref="CniIpConfig.Interface"/> index set (routes and DNS as applied).
    /// On failure the host must be left as it was; the core then releases IPAM.
    /// </summary>
    CniResult Add(CniRequest request, CniResult? ipamResult);

    /// <summary>DEL: detach. Idempotent: <see cref="CniRequest.NetnsPath"/> may be null or name a namespace that is gone.</summary>
    void Delete(CniRequest request, CniResult? prevResult);

    /// <summary>CHECK: compare the live state with prevResult; throw a <see cref="CniException"/> naming what drifted.</summary>
    void Check(CniRequest request, CniResult prevResult);

    /// <summary>GC: release whatever this mode holds for attachments not in <paramref name="validAttachments"/>.</summary>
    void GarbageCollect(IReadOnlySet<(string ContainerId, string IfName)> validAttachments) { }

    /// <summary>STATUS: whether ADD can be served now.</summary>
    CniStatus Status() => CniStatus.Available;
}
