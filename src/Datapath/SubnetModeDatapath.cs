using System.Net;
using Fathom.Agent.Protocol;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// The section of a network config of a subnet mode, host-gw or overlay (docs/modes.md): where the
/// node's agent listens. The agent holds the node's subnet lease; the plugin only asks it for an address.
/// </summary>
public sealed record SubnetModeConfig(string Network, string AgentSocket)
{
    /// <summary>Reads <c>agentSocket</c> (default <see cref="AgentProtocol.DefaultSocketPath"/>); a relative one is error 7.</summary>
    public static SubnetModeConfig Parse(NetworkConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var socket = config.OptionalString("agentSocket");
        if (socket is not null && (!Path.IsPathRooted(socket) || socket.Contains('\0', StringComparison.Ordinal)))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"agentSocket\" is \"{socket}\": it must be an absolute path");
        return new SubnetModeConfig(config.Name, string.IsNullOrEmpty(socket) ? AgentProtocol.DefaultSocketPath : socket);
    }
}

/// <summary>
/// The plugin entry host-gw and overlay share (DESIGN.md §3, issue 10): ADD asks <c>fathom-agent</c>
/// for an address of the node's leased pod subnet and wires it with a <see cref="NodeVeth"/> (a /32
/// behind the link-local gateway, no bridge, at the MTU the agent's allocation carries); what lies
/// beyond the node — host-gw's routes, overlay's VXLAN device — the agent keeps. DEL only releases —
/// the agent deletes the veth in the background. When the agent cannot vouch for its lease (the
/// datastore unreachable or without quorum) ADD fails with 11 and the agent's message naming the datastore.
/// Each mode's project derives from it with its name and its <see cref="AllocationMode"/>.
/// </summary>
public abstract class SubnetModeDatapath : IDatapath
{
    private readonly SubnetModeConfig _config;
    private readonly AllocationMode _mode;

    /// <summary>A datapath for a network of <paramref name="config"/> that asks the agent for <paramref name="mode"/>'s allocations.</summary>
    protected SubnetModeDatapath(SubnetModeConfig config, AllocationMode mode)
    {
        ArgumentNullException.ThrowIfNull(config);
        _config = config;
        _mode = mode;
    }

    private AgentClient Client => new(_config.AgentSocket);

    /// <inheritdoc/>
    public CniResult Add(CniRequest request, Func<CniResult?> allocate, Action<CniResult> record)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(allocate);
        ArgumentNullException.ThrowIfNull(record);
        var netnsPath = request.NetnsPath ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for ADD");
        using var pod = PodNetns.Open(netnsPath);
        using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
        using var podLinks = PodNetns.OpenLinks(pod);
        // CNI spec §ADD: fail when the name exists — before anything is allocated.
        NodeVeth.ThrowIfPodHas(podLinks, request.IfName, netnsPath);

        // The pod's veth is made while the agent allocates, as the shared mode's (AgentDatapath):
        // its names are known before the reply, its MTU is set once the reply names it.
        Allocation allocation;
        Link? early;
        using (var pending = SubnetAgent.Call("send the allocation request to fathom-agent", () => Client.BeginAllocate(SubnetAgent.AllocateRequest(_config.Network, request, _mode))))
        {
            early = NodeVeth.TryCreateEarly(host, pod, NodeVeth.HostNameFor(request.ContainerId, request.IfName), request.IfName);
            allocation = NodeVeth.ReplyOrDropEarly(host, early, () => SubnetAgent.Call("read fathom-agent's allocation", pending.Allocation));
        }
        if (allocation is not PodSubnetAllocation given || given.Mode != _mode)
        {
            SubnetAgent.Release(Client, _config.Network, request);
            var left = NodeVeth.DropEarly(host, early) is { } veth ? $"; {veth}" : "";
            throw new CniException(CniErrorCode.TryAgainLater,
                $"fathom-agent gave a {Allocation.ModeName(allocation.Mode)} allocation where {Allocation.ModeName(_mode)} was asked",
                $"released it again{left}; a fathom-agent of another release?");
        }
        try
        {
            var result = SubnetPod.Wire(host, pod, podLinks, netnsPath, request.IfName, IPAddress.Parse(given.Ip), given.HostVeth, given.Mtu, allocate, early);
            result.CniVersion = request.Config.CniVersion;
            record(result);
            return result;
        }
        catch (Exception e)
        {
            host.TryDeleteLink(given.HostVeth);
            var outcome = SubnetAgent.Release(Client, _config.Network, request);
            throw e is CniException c ? new CniException(c.Code, $"{c.Message}; {outcome}", c.Details, c)
                : new CniException(CniException.CodeFor(e), $"{e.Message}; {outcome}", null, e);
        }
    }

    /// <inheritdoc/>
    public void Delete(CniRequest request, CniResult? prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Release only: the agent deletes the veth (≈ 20 ms in the kernel) in the background (DESIGN §4, §9).
        SubnetAgent.Call("release with fathom-agent", () => Client.Release(new ReleaseRequest { Network = _config.Network, ContainerId = request.ContainerId, IfName = request.IfName }));
    }

    /// <inheritdoc/>
    public void Check(CniRequest request, CniResult prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        SubnetAgent.Call("check with fathom-agent", () => Client.Check(new CheckRequest { Network = _config.Network, ContainerId = request.ContainerId, IfName = request.IfName }));
        SubnetPod.Verify(request, prevResult);
    }

    /// <inheritdoc/>
    public void GarbageCollect(IReadOnlySet<(string ContainerId, string IfName)> validAttachments) =>
        SubnetAgent.Gc(Client, _config.Network, validAttachments);

    /// <inheritdoc/>
    public CniStatus Status() => SubnetAgent.Status(Client);
}
