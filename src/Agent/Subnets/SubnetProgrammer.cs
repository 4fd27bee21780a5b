using System.Net;
using System.Net.Sockets;
using Fathom.Agent.Protocol;
using Fathom.Datapath;
using Fathom.Datapath.HostGw;
using Fathom.Datapath.Overlay;
using Fathom.Datastore;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>What one subnet mode needs to run on the node.</summary>
/// <param name="Mode">host-gw or overlay.</param>
/// <param name="Datastore">Where the mode's leases are.</param>
/// <param name="Fabric">The node on the fabric.</param>
/// <param name="Overlay">The VXLAN settings (overlay only).</param>
/// <param name="ReconcileInterval">How often the kernel is re-checked.</param>
/// <param name="OpenNode">Opens a netlink handle in the node's netns (the agent's own in production).</param>
/// <param name="BpfRedirect">The tc BPF pod path (<c>redirect: bpf</c>, <see cref="PodRedirect"/>) instead of the kernel's forwarding.</param>
/// <param name="WatchNode">
/// Subscribes to the link events of the node's netns (<see cref="LinkWatcher"/>), so that with <paramref name="BpfRedirect"/>
/// a new pod gets <c>from_pod</c> as soon as its veth appears; null: at the next reconcile only.
/// </param>
/// <param name="Masquerade">The mode's outgoing NAT, kept at every reconcile; null: none is kept (nor removed).</param>
/// <param name="Pins">The node's pinned neighbours, shared with its other subnet mode; null: this mode's alone.</param>
public sealed record SubnetModeSettings(AllocationMode Mode, SubnetDatastoreConfig Datastore, NodeFabric Fabric, OverlaySection? Overlay,
    TimeSpan ReconcileInterval, Func<NetlinkHandle> OpenNode, bool BpfRedirect = false, Func<LinkWatcher>? WatchNode = null,
    SubnetMasquerade? Masquerade = null, NeighbourPins? Pins = null)
{
    /// <summary>What the node publishes with its lease (overlay: its VTEP's MAC and VNI).</summary>
    public NodeAttributes Attributes { get; } = new(Fabric.NodeName, Fabric.NodeIp,
        Overlay is null ? null : new Vtep(Fabric.VtepMac(Overlay.Vni), Overlay.Vni), Fabric.Mac);

    /// <summary>The pods' MTU: the fabric's (host-gw), less VXLAN's 50 bytes (overlay).</summary>
    public int PodMtu => Overlay is null ? Fabric.Mtu : Fabric.Mtu - VxlanOverlay.Overhead;
}

/// <summary>
/// Makes the node's kernel match the peers' leases: host-gw's routes (<see cref="HostGwRoutes"/>) or
/// overlay's VXLAN device, onlink routes, neighbours and FDB entries (<see cref="VxlanOverlay"/>);
/// and keeps what the mode's pods need to meet the other modes' and the world: the node's
/// <see cref="ClusterRule"/> and the mode's outgoing NAT (<see cref="SubnetMasquerade"/>).
/// Counts what is programmed and what had to be repaired, for the metrics.
/// </summary>
public sealed class SubnetProgrammer(SubnetModeSettings settings)
{
    private readonly Lock _lock = new();
    private HashSet<IPNetwork> _programmed = [];
    private readonly NeighbourPins _pins = settings.Pins ?? new NeighbourPins(1);

    /// <summary>Routes to peers' subnets in the kernel after the last reconcile.</summary>
    public int Routes { get; private set; }

    /// <summary>FDB entries (VTEP MAC → node IP) after the last reconcile (overlay).</summary>
    public int FdbEntries { get; private set; }

    /// <summary>Entries programmed before and found missing or wrong since (deleted by hand, a device recreated).</summary>
    public long Repairs { get; private set; }

    /// <summary>Reconciles that ran.</summary>
    public long Reconciles { get; private set; }

    /// <summary>Reconciles that failed.</summary>
    public long Failures { get; private set; }

    private readonly SubnetRedirect _redirect = new();
    private bool _redirectRemoved;

    /// <summary>True while the mode's outgoing NAT is in the kernel (<see cref="SubnetModeSettings.Masquerade"/>).</summary>
    public bool Masquerading => settings.Masquerade?.Active == true;

    /// <summary>Pod veths with the tc BPF pod path attached after the last reconcile (0 unless <c>redirect: bpf</c>).</summary>
    public int RedirectedPods => _redirect.Pods;

    /// <summary>Why the kernel refused the tc BPF pod path, once (the caller logs it); the mode is routed by the kernel from then on.</summary>
    public string? TakeRedirectRefusal()
    {
        lock (_lock) return _redirect.TakeRefusal();
    }

    /// <summary>Why nft refused the mode's outgoing NAT, once per new reason (the caller logs it); pods then reach only the cluster.</summary>
    public string? TakeMasqueradeRefusal()
    {
        lock (_lock) return settings.Masquerade?.TakeRefusal();
    }

    /// <summary>
    /// <c>redirect: bpf</c>: attaches <c>from_pod</c> to a new pod's node-side veth now, not at the next
    /// reconcile (<see cref="PodVethWatcher"/>). False when the option is off or refused, or the veth is gone.
    /// </summary>
    internal bool AttachPod(int hostVeth)
    {
        if (!settings.BpfRedirect) return false;
        lock (_lock)
        {
            using var host = settings.OpenNode();
            return _redirect.AttachNew(host, hostVeth, IpPrefix.Parse(settings.Datastore.ClusterCidr), Vxlan(host));
        }
    }

    // redirect: kernel — the mode's programs, left by a run with redirect: bpf, go: on its uplinks and
    // on the veths of the pods that run made: the kernel's forwarding carries the mode's packets again.
    // Once per start: only an earlier run can have left them (the option changes with a restart).
    private void RemoveRedirect(NetlinkHandle host, IpPrefix subnet)
    {
        var fabric = settings.Fabric.DeviceIndex;
        var uplink = fabric;
        if (settings.Overlay is { } o)
        {
            if (PodRedirect.IsAttached(host, fabric, PodRedirect.FromVxlanName)) PodRedirect.Detach(host, fabric, PodRedirect.VxlanPriority);
            uplink = host.GetLink(o.EffectiveDevice).Index;
        }
        if (PodRedirect.IsAttached(host, uplink, PodRedirect.ToPodName)) PodRedirect.Detach(host, uplink);
        foreach (var pod in SubnetRedirect.PodVeths(host, subnet, uplink))
        {
            try
            {
                if (PodRedirect.IsAttached(host, pod, PodRedirect.FromPodName)) PodRedirect.Detach(host, pod);
            }
            catch (NetlinkException e) when (e.Error == Errno.ENODEV)
            {
                // The pod's veth went meanwhile (its DEL's teardown).
            }
        }
    }

    // Overlay on an IPv4 fabric: the VTEP the tc programs wrap and unwrap for (its device as the kernel
    // has it now; none before the first reconcile made it: the pod's packets then take the device).
    private VxlanEncap? Vxlan(NetlinkHandle host) =>
        settings.Overlay is { } o && settings.Fabric.NodeIp.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            && host.TryGetLink(o.EffectiveDevice, out var vtep)
            ? new VxlanEncap(vtep.Index, settings.Fabric.NodeIp, o.Port, o.Vni)
            : null;

    internal void Failed()
    {
        lock (_lock) Failures++;
    }

    /// <summary>One reconcile; returns how many entries programmed before had to be put back.</summary>
    public int Reconcile(SubnetLease own, IReadOnlyCollection<SubnetLease> leases)
    {
        lock (_lock)
        {
            var peers = leases.Where(l => !l.Subnet.Equals(own.Subnet)).Select(l => new PeerSubnet(
                new IpPrefix(l.Subnet.BaseAddress, l.Subnet.PrefixLength), l.Node.NodeIp, l.Node.Vtep?.Mac, l.Node.NodeMac)).ToList();
            using var host = settings.OpenNode();
            var repaired = settings.Overlay is { } overlay ? ReconcileOverlay(host, overlay, own, peers) : ReconcileHostGw(host, peers);
            // Shared pods' packets for this mode's pods take the main table (ClusterRule), not their ENI's.
            if (ClusterRule.Ensure(host, IpPrefix.Parse(settings.Datastore.ClusterCidr)) && Reconciles > 0)
                repaired++;
            if (settings.BpfRedirect && _redirect.Refused is null)
            {
                var vxlan = Vxlan(host);
                var uplink = vxlan?.VtepIndex
                    ?? (settings.Overlay is { } o ? host.GetLink(o.EffectiveDevice).Index : settings.Fabric.DeviceIndex);
                _redirect.Reconcile(host, uplink, new IpPrefix(own.Subnet.BaseAddress, own.Subnet.PrefixLength),
                    IpPrefix.Parse(settings.Datastore.ClusterCidr), vxlan, settings.Fabric.DeviceIndex);
            }
            else if (!settings.BpfRedirect && !_redirectRemoved)
            {
                RemoveRedirect(host, new IpPrefix(own.Subnet.BaseAddress, own.Subnet.PrefixLength));
                _redirectRemoved = true;
            }
            if (settings.Masquerade?.Ensure() == true)
                repaired++;
            _programmed = [.. peers.Select(p => new IPNetwork(p.Subnet.Address, p.Subnet.PrefixLength))];
            Repairs += repaired;
            Reconciles++;
            return repaired;
        }
    }

    private int ReconcileHostGw(NetlinkHandle host, List<PeerSubnet> peers)
    {
        var before = HostGwRoutes.Ours(host);
        var repaired = peers.Count(p => _programmed.Contains(Network(p))
            && !before.Any(r => Equals(r.Destination, p.Subnet) && Equals(r.Gateway, p.NodeIp)));
        _pins.Reconcile(host, settings.Fabric.DeviceIndex, settings.Mode, peers);
        HostGwRoutes.Reconcile(host, peers);
        Routes = HostGwRoutes.Ours(host).Count;
        return repaired;
    }

    private int ReconcileOverlay(NetlinkHandle host, OverlaySection overlay, SubnetLease own, List<PeerSubnet> peers)
    {
        var spec = new VtepSpec(overlay.EffectiveDevice, overlay.Vni, settings.Fabric.NodeIp, settings.Fabric.DeviceIndex, settings.Fabric.Mtu,
            new IpPrefix(own.Subnet.BaseAddress, own.Subnet.PrefixLength), overlay.Port);
        var existed = host.TryGetLink(spec.Name, out var old);
        var vtep = VxlanOverlay.EnsureDevice(host, spec, settings.Attributes.Vtep!.Mac);
        var routes = OverlayRoutes(host, vtep);
        var fdb = host.ListFdb(vtep.Index).Where(e => e.Destination is not null).ToList();
        var repaired = peers.Count(p => _programmed.Contains(Network(p))
            && (!existed || old!.Index != vtep.Index
                || !routes.Any(r => Equals(r.Destination, p.Subnet))
                || !fdb.Any(e => e.Mac.Equals(p.VtepMac) && Equals(e.Destination, p.NodeIp))));
        // The VXLAN packets' next hop is the peer's node IP on the fabric: pinned as for host-gw.
        _pins.Reconcile(host, settings.Fabric.DeviceIndex, settings.Mode, peers);
        VxlanOverlay.Reconcile(host, vtep, peers);
        Routes = OverlayRoutes(host, vtep).Count;
        FdbEntries = host.ListFdb(vtep.Index).Count(e => e.Destination is not null);
        return repaired;
    }

    private static List<Route> OverlayRoutes(NetlinkHandle host, Link vtep) =>
        [.. host.ListRoutes(AddressFamily.InterNetwork).Where(r => r.Protocol == FathomRoutes.Protocol && r.OutputIndex == vtep.Index)];

    private static IPNetwork Network(PeerSubnet p) => new(p.Subnet.Address, p.Subnet.PrefixLength);
}
