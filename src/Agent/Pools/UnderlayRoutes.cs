using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Pools;

/// <summary>
/// Underlay pods made before their node ran a subnet mode (docs/modes.md, "Across modes"): their
/// allocation's <c>nodeRoutes</c> lack the mode's cluster CIDR, so their packets for its pods would
/// leave by the ENI, toward a VPC that does not know it. At start the agent adds what such a pod's
/// small veth lacks (<see cref="NodeVeth.AddViaNode"/>), as the plugin would have at its ADD. Routes
/// of a mode dropped since stay: they lead to the node, which has no route for them either way.
/// </summary>
public static class UnderlayRoutes
{
    /// <summary>Adds the missing cluster CIDRs to every committed underlay pod of <paramref name="store"/>; returns the pods changed.</summary>
    /// <param name="store">The node's allocations.</param>
    /// <param name="clusterCidrs">The node's host-gw and overlay cluster CIDRs.</param>
    /// <param name="log">Where each pod changed, and each that could not be, is said.</param>
    public static int AddMissing(AllocationStore store, IReadOnlyList<string> clusterCidrs, AgentLog log)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(clusterCidrs);
        ArgumentNullException.ThrowIfNull(log);
        if (clusterCidrs.Count == 0) return 0;
        var changed = 0;
        foreach (var record in store.All())
        {
            if (record.State != AllocationState.Committed || record.Allocation is not UnderlayAllocation underlay || record.NetnsPath is not { } netns)
                continue;
            List<IpPrefix> missing = [.. clusterCidrs.Except(underlay.NodeRoutes ?? []).Select(IpPrefix.Parse)];
            if (missing.Count == 0 || !File.Exists(netns)) continue;  // a pod gone: the reconcile releases it
            try
            {
                using var pod = Netns.Open(netns);
                using var podLinks = NetlinkHandle.OpenIn(pod);
                var added = NodeVeth.AddViaNode(podLinks, PodEni.NodeVethPodName, missing);
                if (added.Count == 0) continue;
                changed++;
                log.Info("pool.underlay-routes-added", $"underlay pod {record.Key} reaches {string.Join(", ", added)} through its node veth now (it was made before the node ran that mode)",
                    ("attachment", record.Key.ToString()), ("added", string.Join(",", added)));
            }
            catch (Exception e) when (e is NetlinkException or Fathom.Cni.CniException or IOException)
            {
                log.Warning("pool.underlay-routes-failed", $"could not add {string.Join(", ", missing)} to underlay pod {record.Key}'s node veth: {e.Message}; recreate the pod for it to reach those pods",
                    ("attachment", record.Key.ToString()), ("error", e.Message));
            }
        }
        return changed;
    }
}
