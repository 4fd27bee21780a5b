namespace Fathom.Cni;

/// <summary>
/// One datapath mode (DESIGN.md §3), as the plugin's <see cref="CniModes"/> table names it. The core (<see cref="CniCommands"/>)
/// does environment and config validation, delegated IPAM, chaining and result versioning
/// around it; a mode only wires the kernel. A mode is made per invocation by its factory in the
/// plugin's <see cref="CniModes"/> table, which parses the mode's config section first (error 7
/// before IPAM allocates anything).
/// </summary>
public interface IDatapath
{
    /// <summary>
    /// ADD: attach the container. <paramref name="allocate"/> runs the delegated IPAM plugin (null
    /// when the config has none); the mode calls it exactly once, where its IPAM needs it — after
    /// the interface is in the pod, as the reference host-device and macvlan plugins do, since the
    /// dhcp IPAM plugin runs its DHCP client on CNI_IFNAME inside CNI_NETNS. Once the attachment is
    /// complete the mode calls <paramref name="record"/> exactly once with the result it will
    /// return — its Interfaces, and the IPAM IPs with their <see cref="CniIpConfig.Interface"/>
    /// index set (routes and DNS as applied) — still inside its rollback: the core writes the
    /// attachment record there, and a record that cannot be written is undone like any other
    /// failure. <paramref name="allocate"/> and <paramref name="record"/> fail only with a
    /// <see cref="CniException"/>. On failure — its own, IPAM's or the record's — the host must be
    /// left exactly as it was, and only what this invocation changed may be touched to get there
    /// (a concurrent ADD may hold the same device); the core then releases what IPAM allocated.
    /// </summary>
    CniResult Add(CniRequest request, Func<CniResult?> allocate, Action<CniResult> record);

    /// <summary>DEL: detach. Idempotent: <see cref="CniRequest.NetnsPath"/> may be null or name a namespace that is gone.</summary>
    void Delete(CniRequest request, CniResult? prevResult);

    /// <summary>CHECK: compare the live state with prevResult; throw a <see cref="CniException"/> naming what drifted.</summary>
    void Check(CniRequest request, CniResult prevResult);

    /// <summary>GC: release whatever this mode holds for attachments not in <paramref name="validAttachments"/>.</summary>
    void GarbageCollect(IReadOnlySet<(string ContainerId, string IfName)> validAttachments) { }

    /// <summary>STATUS: whether ADD can be served now.</summary>
    CniStatus Status() => CniStatus.Available;
}
