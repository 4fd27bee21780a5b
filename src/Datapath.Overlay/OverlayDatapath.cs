using System.Net;
using Fathom.Agent.Protocol;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Overlay;

/// <summary>
/// The overlay mode's section of a network config (docs/modes.md): where the node's agent listens.
/// The agent holds the node's subnet lease; the plugin only asks it for an address.
/// </summary>
public sealed record OverlayConfig(string Network, string AgentSocket)
{
    /// <summary>Reads <c>agentSocket</c> (default <see cref="AgentProtocol.DefaultSocketPath"/>); a relative one is error 7.</summary>
    public static OverlayConfig Parse(NetworkConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var socket = config.OptionalString("agentSocket");
        if (socket is not null && (!Path.IsPathRooted(socket) || socket.Contains('\0', StringComparison.Ordinal)))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"agentSocket\" is \"{socket}\": it must be an absolute path");
        return new OverlayConfig(config.Name, string.IsNullOrEmpty(socket) ? AgentProtocol.DefaultSocketPath : socket);
    }
}

/// <summary>
/// <c>"mode": "overlay"</c> (DESIGN.md §3, issue 10): ADD asks <c>fathom-agent</c> for an address of
/// the node's leased pod subnet and wires it with a <see cref="NodeVeth"/> at the overlay's MTU (the
/// fabric's − 50, which the agent's allocation carries); the agent keeps the VXLAN device and every
/// remote subnet's onlink route, permanent neighbour and FDB entry. DEL only releases —
/// the agent deletes the veth in the background. When the agent cannot vouch for its lease (the
/// datastore unreachable or without quorum) ADD fails with 11 and the agent's message naming the datastore.
/// </summary>
public sealed class OverlayDatapath(OverlayConfig config) : IDatapath
{
    /// <summary>The mode's name in a network config's <c>mode</c>.</summary>
    public const string Mode = "overlay";

    /// <summary>The plugin table's entry.</summary>
    public static IDatapath FromConfig(NetworkConfig config) => new OverlayDatapath(OverlayConfig.Parse(config));

    private AgentClient Client => new(config.AgentSocket);

    /// <inheritdoc/>
    public CniResult Add(CniRequest request, Func<CniResult?> allocate, Action<CniResult> record)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(allocate);
        ArgumentNullException.ThrowIfNull(record);
        var netnsPath = request.NetnsPath ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for ADD");
        using var pod = PodNetns.Open(netnsPath);
        using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
        using var podLinks = KernelCall.Run($"open a netlink socket in netns {netnsPath}", () => NetlinkHandle.OpenIn(pod));
        if (KernelCall.Run($"look up {request.IfName} in netns {netnsPath}", () => podLinks.TryGetLink(request.IfName, out _)))
            throw new CniException(DatapathErrorCodes.IfNameExists, $"interface \"{request.IfName}\" already exists in netns {netnsPath}");

        var allocation = SubnetAgent.Call(() => Client.Allocate(SubnetAgent.AllocateRequest(config.Network, request, AllocationMode.Overlay)));
        if (allocation is not OverlayAllocation given)
        {
            SubnetAgent.Release(Client, config.Network, request);
            throw new CniException(CniErrorCode.TryAgainLater, $"fathom-agent gave a {Allocation.ModeName(allocation.Mode)} allocation where overlay was asked",
                "released it again; a fathom-agent of another release?");
        }
        try
        {
            var result = SubnetPod.Wire(host, pod, podLinks, netnsPath, request.IfName, IPAddress.Parse(given.Ip), given.HostVeth, given.Mtu, allocate);
            result.CniVersion = request.Config.CniVersion;
            record(result);
            return result;
        }
        catch (Exception e)
        {
            host.TryDeleteLink(given.HostVeth);
            var outcome = SubnetAgent.Release(Client, config.Network, request);
            throw e is CniException c ? new CniException(c.Code, $"{c.Message}; {outcome}", c.Details, c)
                : new CniException(CniException.CodeFor(e), $"{e.Message}; {outcome}", null, e);
        }
    }

    /// <inheritdoc/>
    public void Delete(CniRequest request, CniResult? prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Release only: the agent deletes the veth (≈ 20 ms in the kernel) in the background (DESIGN §4, §9).
        SubnetAgent.Call(() => Client.Release(new ReleaseRequest { Network = config.Network, ContainerId = request.ContainerId, IfName = request.IfName }));
    }

    /// <inheritdoc/>
    public void Check(CniRequest request, CniResult prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        SubnetAgent.Call(() => Client.Check(new CheckRequest { Network = config.Network, ContainerId = request.ContainerId, IfName = request.IfName }));
        SubnetPod.Verify(request, prevResult);
    }

    /// <inheritdoc/>
    public void GarbageCollect(IReadOnlySet<(string ContainerId, string IfName)> validAttachments) =>
        SubnetAgent.Gc(Client, config.Network, validAttachments);

    /// <inheritdoc/>
    public CniStatus Status() => SubnetAgent.Status(Client);
}
