using System.Net.Sockets;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Subnets;

/// <summary>
/// <c>redirect: bpf</c> on a node (docs/modes.md, "The tc BPF pod path"): keeps
/// <see cref="PodRedirect"/>'s <c>to_pod</c> on the uplink (the fabric device, or overlay's VXLAN
/// device) for the node's current subnet, and <c>from_pod</c> on every pod veth of the subnet — the
/// devices the node's /32 routes into the subnet name. Overlay also keeps <c>from_vxlan</c> on the
/// fabric device, and its pods' <c>from_pod</c> wrap VXLAN themselves (<see cref="VxlanEncap"/>): they
/// are attached again whenever the VTEP changes (a recreated device has a new index). A new pod gets
/// its program as soon as its veth appears (<see cref="AttachNew"/>, from <see cref="PodVethWatcher"/>),
/// the reconcile being the safety net (a missed event, a filter deleted by hand; until then the kernel
/// forwards its packets). A kernel that refuses the programs, or lacks the conntrack kfuncs they need to leave Service (NATed)
/// flows to the kernel (EOPNOTSUPP, naming what is missing), turns the option off for the mode, said
/// once: the kernel's routes carry the pods, as they do under <c>redirect: kernel</c>.
/// </summary>
internal sealed class SubnetRedirect
{
    private IpPrefix? _uplinkSubnet;
    private int _uplink;
    private int _fabric;
    private VxlanEncap? _vxlan;
    private string? _untold;

    /// <summary>Pod veths carrying <c>from_pod</c> after the last reconcile.</summary>
    public int Pods { get; private set; }

    /// <summary>The kernel's refusal, once it refused.</summary>
    public string? Refused { get; private set; }

    public string? TakeRefusal()
    {
        var refusal = _untold;
        _untold = null;
        return refusal;
    }

    /// <summary>
    /// Attaches <c>from_pod</c> to one new pod veth now, between reconciles: true when it is attached
    /// (or already was), false when the veth is gone again or the kernel refused (the refusal then
    /// turns the option off, as in <see cref="Reconcile"/>).
    /// </summary>
    public bool AttachNew(NetlinkHandle host, int pod, IpPrefix cluster, VxlanEncap? vxlan)
    {
        if (Refused is not null) return false;
        try
        {
            if (PodRedirect.IsAttached(host, pod, PodRedirect.FromPodName)) return true;
            PodRedirect.AttachPod(host, pod, cluster, vxlan);
            Pods++;
            return true;
        }
        catch (NetlinkException e) when (e.Error == Errno.ENODEV)
        {
            return false; // the pod's ADD failed and deleted its veth, or its DEL came first
        }
        catch (NetlinkException e) when (IsRefusal(e))
        {
            Refuse(host, e);
            return false;
        }
    }

    /// <param name="host">The node's netlink handle.</param>
    /// <param name="uplink">Where packets for the node's pods come in: the fabric device, or overlay's VXLAN device.</param>
    /// <param name="subnet">The node's pod subnet.</param>
    /// <param name="cluster">The mode's cluster CIDR.</param>
    /// <param name="vxlan">Overlay: the node's VTEP, which the programs wrap and unwrap for; null for host-gw.</param>
    /// <param name="fabric">The fabric device (overlay: where <c>from_vxlan</c> sits).</param>
    public void Reconcile(NetlinkHandle host, int uplink, IpPrefix subnet, IpPrefix cluster, VxlanEncap? vxlan = null, int fabric = 0)
    {
        try
        {
            // Attached again when the device or the subnet changed (a recreated VXLAN device, a new lease), or the filter went.
            var moved = _uplink != uplink || _uplinkSubnet != subnet;
            if (moved || !PodRedirect.IsAttached(host, uplink, PodRedirect.ToPodName))
                PodRedirect.AttachUplink(host, uplink, subnet);
            if (vxlan is not null
                && (moved || vxlan != _vxlan || _fabric != fabric || !PodRedirect.IsAttached(host, fabric, PodRedirect.FromVxlanName)))
                PodRedirect.AttachFabric(host, fabric, subnet, vxlan);
            (_uplink, _uplinkSubnet, _fabric) = (uplink, subnet, vxlan is null ? 0 : fabric);
            // A new VTEP (its index): every pod's from_pod again, or they would hand its packets to the device.
            var again = vxlan != _vxlan;
            _vxlan = vxlan;
            var attached = 0;
            foreach (var pod in PodVeths(host, subnet, uplink))
            {
                try
                {
                    if (again || !PodRedirect.IsAttached(host, pod, PodRedirect.FromPodName)) PodRedirect.AttachPod(host, pod, cluster, vxlan);
                    attached++;
                }
                catch (NetlinkException e) when (e.Error == Errno.ENODEV)
                {
                    // The pod's veth went meanwhile (its DEL's teardown): nothing to attach to.
                }
            }
            Pods = attached;
        }
        catch (NetlinkException e) when (IsRefusal(e))
        {
            _uplink = uplink;
            Refuse(host, e);
        }
    }

    /// <summary>
    /// The pod veths of <paramref name="subnet"/>: the devices the node's /32 routes into it name, but
    /// <paramref name="uplink"/> (the node's own routes there).
    /// </summary>
    public static List<int> PodVeths(NetlinkHandle host, IpPrefix subnet, int uplink)
    {
        var network = new System.Net.IPNetwork(subnet.Network.Address, subnet.PrefixLength);
        return [.. host.ListRoutes(AddressFamily.InterNetwork)
            .Where(r => r.Destination is { PrefixLength: 32 } d && network.Contains(d.Address) && r.OutputIndex is int i && i != uplink)
            .Select(r => r.OutputIndex!.Value).Distinct()];
    }

    private static bool IsRefusal(NetlinkException e) => e.Error is Errno.EINVAL or Errno.EPERM or Errno.EACCES or Errno.EOPNOTSUPP;

    private void Refuse(NetlinkHandle host, NetlinkException e)
    {
        Refused = _untold = e.Message;
        if (_uplink != 0) PodRedirect.Detach(host, _uplink);
        if (_fabric != 0) PodRedirect.Detach(host, _fabric, PodRedirect.VxlanPriority);
        Pods = 0;
    }
}
