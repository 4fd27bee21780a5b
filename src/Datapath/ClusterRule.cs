using System.Net.Sockets;
using Fathom.Netlink;

namespace Fathom.Datapath;

/// <summary>
/// The node's policy rule <c>to CLUSTER_CIDR lookup main</c> for a host-gw or overlay cluster CIDR
/// (docs/modes.md, "Across modes"). A shared pod's packets are steered into its ENI's table by
/// the shared mode's <c>from podIP</c> rule, whose only route leads to the VPC's router, which does
/// not know the subnet modes' pod CIDRs; this rule, before that one, sends the pod's packets for
/// those CIDRs through the main table's routes instead — to the node's own subnet-mode pods, and to
/// the other nodes' over host-gw's routes or the VXLAN device.
/// </summary>
public static class ClusterRule
{
    /// <summary>After the shared mode's <c>to podIP</c> rules (512), before its <c>from podIP</c> rules (1536).</summary>
    public const int Priority = 1280;

    /// <summary>The rule for <paramref name="clusterCidr"/>.</summary>
    public static Rule For(IpPrefix clusterCidr) =>
        new() { Family = AddressFamily.InterNetwork, Priority = Priority, To = clusterCidr, Table = RouteTables.Main };

    /// <summary>Adds the rule for <paramref name="clusterCidr"/> unless the node has it; true when it was added.</summary>
    public static bool Ensure(NetlinkHandle host, IpPrefix clusterCidr)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (Present(host, clusterCidr).Count > 0)
            return false;
        host.AddRule(For(clusterCidr));
        return true;
    }

    /// <summary>Deletes the rule for <paramref name="clusterCidr"/> (the mode is gone); false when the node had none.</summary>
    public static bool Remove(NetlinkHandle host, IpPrefix clusterCidr)
    {
        ArgumentNullException.ThrowIfNull(host);
        var present = Present(host, clusterCidr);
        foreach (var rule in present)
            KernelCall.Run($"delete the rule to {clusterCidr} lookup main", () => host.DeleteRule(rule));
        return present.Count > 0;
    }

    private static List<Rule> Present(NetlinkHandle host, IpPrefix clusterCidr) =>
        [.. host.ListRules(AddressFamily.InterNetwork).Where(r => r.Priority == Priority && r.To == clusterCidr && r.Table == RouteTables.Main)];
}
