using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Fathom.Agent.Protocol;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Shared;

/// <summary>
/// The agent-backed datapath (DESIGN.md §3, §4; docs/modes.md): the pod's ENI or secondary IP
/// comes from <c>fathom-agent</c> over its socket — the allocation is the IPAM — and the reply's
/// mode decides the wiring: a whole ENI through <see cref="IEniWiring"/> (the underlay mode's,
/// handed in by the plugin's mode table), a secondary IP through <see cref="SharedWiring"/>.
/// DEL only releases: the agent tears the kernel side down in the background, off the critical
/// path (DESIGN §9: DEL ≤ 5 ms). Serves the <c>shared</c> mode, and <c>underlay</c> when the
/// config names no device.
/// </summary>
public sealed class AgentDatapath(AgentNetworkConfig config, IEniWiring eniWiring) : IDatapath
{
    /// <summary>The shared mode's name in a network config's <c>mode</c>.</summary>
    public const string SharedMode = "shared";

    /// <summary>The plugin table's entry for a network of mode <paramref name="mode"/>.</summary>
    public static IDatapath FromConfig(NetworkConfig config, AllocationMode mode, IEniWiring eniWiring) =>
        new AgentDatapath(AgentNetworkConfig.Parse(config, mode), eniWiring);

    private AgentClient Client => new(config.AgentSocket);

    /// <inheritdoc/>
    public CniResult Add(CniRequest request, Func<CniResult?> allocate, Action<CniResult> record)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(allocate);
        ArgumentNullException.ThrowIfNull(record);
        var ifName = request.IfName;
        var netnsPath = request.NetnsPath
            ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for ADD");
        var requested = config.RequestedBy(request);

        using var pod = PodNetns.Open(netnsPath);
        using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
        using var podLinks = PodNetns.OpenLinks(pod);
        // CNI spec §ADD: fail when the name exists — before anything is allocated.
        NodeVeth.ThrowIfPodHas(podLinks, ifName, netnsPath);

        var ask = new AllocateRequest
        {
            Network = config.Network,
            ContainerId = request.ContainerId,
            IfName = ifName,
            NetnsPath = netnsPath,
            RequestedMode = requested,
            FallbackAllowed = config.Fallback is { } f && f != requested,
            Pod = request.Args is { K8sPodNamespace: { Length: > 0 } ns, K8sPodName: { Length: > 0 } name }
                ? new PodIdentity { Namespace = ns, Name = name, Uid = request.Args.K8sPodUid }
                : null,
        };
        // A shared pod's veth is made while the agent allocates: its names are known before the
        // reply (the agent names it NodeVeth.HostNameFor, as this does), so the pod waits for the
        // longer of the two instead of both. Whatever then goes wrong before the wiring owns it
        // deletes it again (NodeVeth.DropEarly). Only where the reply cannot be a whole ENI.
        Link? early = null;
        Allocation allocation;
        if (requested == AllocationMode.Shared && !ask.FallbackAllowed)
        {
            using var pending = Agent("send the allocation request to fathom-agent", () => Client.BeginAllocate(ask));
            early = NodeVeth.TryCreateEarly(host, pod, NodeVeth.HostNameFor(request.ContainerId, ifName), ifName);
            allocation = NodeVeth.ReplyOrDropEarly(host, early, () => Agent("read fathom-agent's allocation", pending.Allocation));
        }
        else
        {
            allocation = Agent("allocate with fathom-agent", () => Client.Allocate(ask));
        }
        if (allocation.Mode != requested && allocation.Mode != config.Fallback)
        {
            Release(request, "");
            var left = NodeVeth.DropEarly(host, early) is { } veth ? $"; {veth}" : "";
            throw new CniException(CniErrorCode.TryAgainLater,
                $"fathom-agent gave a {AgentNetworkConfig.Name(allocation.Mode)} allocation where {AgentNetworkConfig.Name(requested)} was asked and no fallback allowed",
                $"released it again{left}; a fathom-agent of another release?");
        }

        // The rest of ADD, inside the wiring's rollback: the allocation is the IPAM; a config that
        // has an ipam section too gets its addresses and routes on the same interface, as an
        // underlay with delegated IPAM would. Then the attachment is recorded.
        void Complete(CniResult result)
        {
            result.CniVersion = request.Config.CniVersion;
            if (allocate() is { } ipam)
            {
                var index = KernelCall.Run($"look up {ifName} in the pod", () => podLinks.GetLink(ifName)).Index;
                PodAddressing.Apply(podLinks, index, ifName, ipam);
                result.Ips.AddRange(ipam.Ips.Select(ip => ip with { Interface = 0 }));
                result.Routes.AddRange(ipam.Routes);
            }
            record(result);
        }

        try
        {
            return allocation switch
            {
                // Undoes itself on any failure, Complete's included.
                UnderlayAllocation u => eniWiring.Attach(host, pod, podLinks, netnsPath, ToPodEni(u), ifName, Complete),
                SharedAllocation s => AddShared(host, pod, podLinks, netnsPath, ToSharedPod(s, ifName), early, Complete),
                _ => throw new CniException(CniErrorCode.InternalError, $"unknown allocation {allocation.GetType().Name}"),
            };
        }
        catch (Exception e)
        {
            // The kernel is as it was; now the allocation goes back, so a failed ADD holds nothing.
            var outcome = Release(request, "");
            // The wiring deletes what it made on its own failures; this covers a failure before it
            // ran (deleting a veth already gone is a no-op).
            if (NodeVeth.DropEarly(host, early) is { } left) outcome += $"; {left}";
            throw e is CniException c
                ? new CniException(c.Code, $"{c.Message}; {outcome}", c.Details, c)
                : new CniException(CniException.CodeFor(e), $"{e.Message}; {outcome}", null, e);
        }
    }

    private static CniResult AddShared(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, string netnsPath, SharedPod shared,
        Link? early, Action<CniResult> complete)
    {
        var result = AttachShared(host, pod, podLinks, netnsPath, shared, early);
        try
        {
            complete(result);
            return result;
        }
        catch (Exception e)
        {
            string outcome;
            try
            {
                SharedWiring.Remove(host, shared);
                outcome = $"veth \"{shared.HostVeth}\" and the pod's rules removed";
            }
            catch (Exception again) when (again is NetlinkException or CniException)
            {
                outcome = $"removing veth \"{shared.HostVeth}\" and the pod's rules failed too: {again.Message}";
            }
            throw e is CniException c
                ? new CniException(c.Code, $"{c.Message}; {outcome}", c.Details, c)
                : new CniException(CniException.CodeFor(e), $"{e.Message}; {outcome}", null, e);
        }
    }

    private static CniResult AttachShared(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, string netnsPath, SharedPod shared,
        Link? early)
    {
        // This ADD looked for the pod's interface name before anything was allocated (CNI spec §ADD);
        // the veth made while the agent allocated is wired as it is (NodeVeth.CreateOrWireEarly).
        var (node, inPod) = SharedWiring.AddChecked(host, pod, podLinks, shared, early);
        return new CniResult
        {
            Interfaces =
            [
                new CniInterface(shared.PodIfName, inPod.Mac is null ? null : InterfaceNames.FormatMac(inPod.Mac), Mtu: inPod.Mtu, Sandbox: netnsPath),
                new CniInterface(shared.HostVeth, node.Mac is null ? null : InterfaceNames.FormatMac(node.Mac)),
            ],
            Ips = [new CniIpConfig(new IpPrefix(shared.PodIp, 32), NodeVeth.Gateway, Interface: 0)],
            Routes = [new CniRoute(new IpPrefix(IPAddress.Any, 0), NodeVeth.Gateway)],
        };
    }

    // Returns a sentence for the error message (with a leading separator), never throws.
    private string Release(CniRequest request, string separator)
    {
        try
        {
            Client.Release(new ReleaseRequest { Network = config.Network, ContainerId = request.ContainerId, IfName = request.IfName });
            return $"{separator}the allocation is released";
        }
        catch (AgentException e)
        {
            return $"{separator}releasing the allocation failed too ({e.Message}): the runtime's DEL releases it";
        }
    }

    /// <inheritdoc/>
    public void Delete(CniRequest request, CniResult? prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        // Release only: the agent records the teardown (ENI back to the node, veth deleted) and
        // does it in the background. No kernel work here (DESIGN §4, §9).
        Agent("release with fathom-agent", () => Client.Release(new ReleaseRequest
        {
            Network = config.Network, ContainerId = request.ContainerId, IfName = request.IfName,
        }));
    }

    /// <inheritdoc/>
    public void Check(CniRequest request, CniResult prevResult)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(prevResult);
        var ifName = request.IfName;
        var netnsPath = request.NetnsPath
            ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for CHECK");
        Agent("check with fathom-agent", () => Client.Check(new CheckRequest { Network = config.Network, ContainerId = request.ContainerId, IfName = ifName }));

        using var pod = PodNetns.Open(netnsPath);
        using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
        using var podLinks = PodNetns.OpenLinks(pod);
        var inPod = prevResult.Interfaces.FindIndex(i => i.Name == ifName && i.Sandbox == netnsPath);
        if (inPod < 0)
            throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no interface \"{ifName}\" in sandbox {netnsPath}");
        // A whole ENI's node veth is named after the ENI's MAC; a shared pod's is whatever the agent named.
        var mac = prevResult.Interfaces[inPod].Mac;
        var onNode = prevResult.Interfaces.FirstOrDefault(i => i.Sandbox is null);
        if (mac is not null && onNode is not null && onNode.Name == NodeVeth.HostNameForEni(mac))
        {
            eniWiring.Verify(host, podLinks, netnsPath, ifName, prevResult);
            return;
        }
        if (onNode is null)
            throw new CniException(CniErrorCode.CheckFailed, "prevResult names no interface on the node (the pod's veth)");
        var ip = prevResult.Ips.FirstOrDefault(i => i.Interface == inPod)?.Address.Address
            ?? throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no address on \"{ifName}\"");
        var table = KernelCall.Run("list the node's rules", () => host.ListRules(AddressFamily.InterNetwork))
            .FirstOrDefault(r => r.Priority == SharedWiring.FromPodPriority && r.From is { } from && from.Equals(new IpPrefix(ip, 32)))?.Table
            ?? throw new CniException(CniErrorCode.CheckFailed, $"the node has no rule from {ip} (priority {SharedWiring.FromPodPriority})");
        SharedWiring.Verify(host, podLinks, new SharedPod(ip, onNode.Name, ifName, table));
    }

    /// <inheritdoc/>
    public void GarbageCollect(IReadOnlySet<(string ContainerId, string IfName)> validAttachments)
    {
        ArgumentNullException.ThrowIfNull(validAttachments);
        Agent("garbage-collect with fathom-agent", () => Client.Gc(new GcRequest
        {
            Network = config.Network,
            ValidAttachments = [.. validAttachments.Select(a => new AttachmentRef { ContainerId = a.ContainerId, IfName = a.IfName })],
        }));
    }

    /// <inheritdoc/>
    public CniStatus Status()
    {
        try
        {
            Client.Status();
            return CniStatus.Available;
        }
        catch (AgentException e)
        {
            return new CniStatus(CniErrorCode.NotAvailable, e.Message);
        }
    }

    internal static PodEni ToPodEni(UnderlayAllocation u)
    {
        var slash = u.Address.IndexOf('/', StringComparison.Ordinal);
        return new PodEni(
            u.HostDevice,
            PhysicalAddress.Parse(u.Mac.Replace(':', '-').ToUpperInvariant()),
            u.Mtu,
            new IpPrefix(IPAddress.Parse(u.Address.AsSpan(0, slash)), int.Parse(u.Address.AsSpan(slash + 1), System.Globalization.CultureInfo.InvariantCulture)),
            IPAddress.Parse(u.Gateway),
            [.. (u.NodeRoutes ?? []).Select(ParsePrefix)]);
    }

    internal static SharedPod ToSharedPod(SharedAllocation s, string ifName) =>
        new(IPAddress.Parse(s.Ip), s.HostVeth, ifName, s.RouteTable);

    private static IpPrefix ParsePrefix(string text)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var prefix = new IpPrefix(IPAddress.Parse(text.AsSpan(0, slash)), int.Parse(text.AsSpan(slash + 1), System.Globalization.CultureInfo.InvariantCulture));
        return prefix;
    }

    /// <summary>
    /// One call to the agent; its failure becomes the CNI error. Codes below 100 are CNI's and pass
    /// through (11 with the agent's reason, e.g. "fathom-agent is not running (no socket at …)");
    /// the agent's own 100–103 would collide with fathom's, so they become <see cref="AgentErrorCodes"/>.
    /// </summary>
    // One call to the agent; its success is a step of the operator log's timing (CniSteps).
    private static T Agent<T>(string step, Func<T> call)
    {
        try
        {
            var done = call();
            CniSteps.Mark(step);
            return done;
        }
        catch (AgentException e)
        {
            throw new CniException(AgentErrorCodes.ToCni(e.Code), e.Message, e.Details, e);
        }
    }

    private static void Agent(string step, Action call) => Agent(step, () =>
    {
        call();
        return 0;
    });
}

/// <summary>
/// The agent-backed modes' own codes (docs/cni.md): the agent's protocol codes 100–103, moved to
/// 110–113 so they never read as fathom's 100–103 (underlay's device codes, 102/103 of every mode).
/// </summary>
public static class AgentErrorCodes
{
    /// <summary>The plugin and fathom-agent speak different protocol versions.</summary>
    public const CniErrorCode ProtocolVersionMismatch = (CniErrorCode)110;

    /// <summary>A message between them could not be read.</summary>
    public const CniErrorCode MalformedMessage = (CniErrorCode)111;

    /// <summary>fathom-agent refused the caller (not root).</summary>
    public const CniErrorCode PermissionDenied = (CniErrorCode)112;

    /// <summary>fathom-agent failed while serving the request (its log has the exception).</summary>
    public const CniErrorCode AgentFailure = (CniErrorCode)113;

    /// <summary>The CNI code for an agent code: CNI's own below 100 unchanged, 100–103 as 110–113.</summary>
    public static CniErrorCode ToCni(AgentErrorCode code) =>
        (int)code is >= 100 and <= 103 ? (CniErrorCode)((int)code + 10) : (CniErrorCode)(int)code;
}
