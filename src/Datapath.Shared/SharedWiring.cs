using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Shared;

/// <summary>
/// One shared-mode pod as the kernel holds it: the pod's IP (a secondary IP of
/// <see cref="EniTable"/>'s ENI), the veth between node and pod, and the routing table of the ENI
/// that owns the IP.
/// </summary>
/// <param name="PodIp">The pod's address (a /32 in the pod).</param>
/// <param name="HostVeth">The node end of the pod's veth.</param>
/// <param name="PodIfName">CNI_IFNAME.</param>
/// <param name="EniTable">The routing table of the ENI that owns <paramref name="PodIp"/> (<see cref="EniRouting"/>).</param>
/// <param name="Mtu">The pod's MTU: the ENI's.</param>
public sealed record SharedPod(IPAddress PodIp, string HostVeth, string PodIfName, int EniTable, int? Mtu = null)
{
    internal NodeVethSpec Veth => new(HostVeth, PodIfName, PodIp, [new IpPrefix(IPAddress.Any, 0)], Mtu);
}

/// <summary>
/// The shared mode's wiring (DESIGN.md §3), as AWS VPC CNI wires a pod: a veth (created with its
/// peer in the pod, <see cref="NodeVeth"/>), the pod's IP as a /32 behind a link-local gateway,
/// a host route <c>podIP/32 dev veth</c>, and two policy rules so the pod's traffic leaves
/// through the ENI that owns its IP — the VPC drops packets whose source IP is not one of the
/// sending ENI's (so no macvlan, no NAT):
/// <list type="bullet">
/// <item><c>to podIP lookup main</c> (priority <see cref="ToPodPriority"/>): traffic for the pod
/// reaches its veth whatever else matches;</item>
/// <item><c>from podIP lookup &lt;ENI table&gt;</c> (priority <see cref="FromPodPriority"/>): the
/// pod's traffic leaves by its ENI's default route.</item>
/// </list>
/// </summary>
public static class SharedWiring
{
    /// <summary>The priority of <c>to podIP lookup main</c> (AWS VPC CNI's 512).</summary>
    public const int ToPodPriority = 512;

    /// <summary>The priority of <c>from podIP lookup table</c> (AWS VPC CNI's 1536).</summary>
    public const int FromPodPriority = 1536;

    /// <summary>
    /// Wires <paramref name="pod"/>; on failure everything made here is removed again (the rules,
    /// the veth) and the error is a <see cref="CniException"/>: 103 when the pod already has the
    /// interface's name. Returns the veth's ends.
    /// </summary>
    public static VethEnds Add(NetlinkHandle host, NetnsHandle podNetns, NetlinkHandle podLinks, SharedPod pod)
    {
        ArgumentNullException.ThrowIfNull(pod);
        NodeVeth.ThrowIfPodHas(podLinks, pod.PodIfName);
        return AddChecked(host, podNetns, podLinks, pod);
    }

    /// <summary>
    /// <see cref="Add"/> for a caller that has already looked for the interface's name in the pod
    /// (<see cref="NodeVeth.CreateChecked"/>): the agent-backed ADD, which looks before it allocates
    /// and may have made the pair while the agent allocated (<paramref name="early"/>,
    /// <see cref="NodeVeth.CreateOrWireEarly"/>).
    /// </summary>
    public static VethEnds AddChecked(NetlinkHandle host, NetnsHandle podNetns, NetlinkHandle podLinks, SharedPod pod, Link? early = null)
    {
        ArgumentNullException.ThrowIfNull(pod);
        return WithRules(host, pod, NodeVeth.CreateOrWireEarly(host, podNetns, podLinks, early, pod.Veth));
    }

    // The pod's two rules on its wired veth; on a failure the veth and any rule already added go.
    private static VethEnds WithRules(NetlinkHandle host, SharedPod pod, VethEnds ends)
    {
        try
        {
            foreach (var rule in RulesOf(pod))
                KernelCall.Run($"add rule {Describe(rule)}", () => AddRule(host, rule));
            return ends;
        }
        catch
        {
            Remove(host, pod);
            throw;
        }
    }

    /// <summary>
    /// Teardown, idempotent: the rules (which outlive links) and the veth (≈ 20 ms in the kernel,
    /// its host route and the pod's end go with it). What is already gone is skipped.
    /// </summary>
    public static void Remove(NetlinkHandle host, SharedPod pod)
    {
        foreach (var rule in RulesOf(pod))
        {
            try
            {
                host.DeleteRule(rule);
            }
            catch (NetlinkException e) when (e.IsNotFound)
            {
            }
        }
        NodeVeth.TryDelete(host, pod.HostVeth);
    }

    /// <summary>CHECK: the veth and routes (<see cref="NodeVeth.Verify"/>) and both rules; 107 names what drifted.</summary>
    public static void Verify(NetlinkHandle host, NetlinkHandle podLinks, SharedPod pod)
    {
        NodeVeth.Verify(host, podLinks, pod.Veth);
        var rules = KernelCall.Run("list the node's rules", () => host.ListRules(AddressFamily.InterNetwork));
        foreach (var want in RulesOf(pod))
            if (!rules.Any(r => Same(r, want)))
                throw new CniException(CniErrorCode.CheckFailed, $"the node has no rule {Describe(want)}");
    }

    internal static IReadOnlyList<Rule> RulesOf(SharedPod pod)
    {
        var ip = new IpPrefix(pod.PodIp, 32);
        return
        [
            new Rule { Family = AddressFamily.InterNetwork, Priority = ToPodPriority, To = ip, Table = RouteTables.Main },
            new Rule { Family = AddressFamily.InterNetwork, Priority = FromPodPriority, From = ip, Table = pod.EniTable },
        ];
    }

    // A rule left by an earlier ADD of this very pod (an agent restarted mid-ADD) is the same rule.
    private static void AddRule(NetlinkHandle host, Rule rule)
    {
        try
        {
            host.AddRule(rule);
        }
        catch (NetlinkException e) when (e.IsAlreadyExists)
        {
        }
    }

    private static bool Same(Rule a, Rule b) =>
        a.Priority == b.Priority && a.Table == b.Table && Equals(a.From, b.From) && Equals(a.To, b.To);

    // Concatenated, never an interpolated string inside another: see IpPrefix's remarks.
    private static string Describe(Rule rule) => string.Concat(
        "pref ", rule.Priority?.ToString(CultureInfo.InvariantCulture),
        rule.From is { } f ? " from " + f : " to " + rule.To,
        " lookup ", rule.Table == RouteTables.Main ? "main" : rule.Table.ToString(CultureInfo.InvariantCulture));
}
