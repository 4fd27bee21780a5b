using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Agent.Pools;

/// <summary>
/// Underlay pods' routes through their node veth to the node's subnet modes (docs/modes.md, "Across
/// modes"), put right at each start. A pod made before its node ran a mode lacks the mode's cluster
/// CIDR (its allocation's <c>nodeRoutes</c> has it not), so its packets for that mode's pods would leave
/// by the ENI, toward a VPC that does not know it: the route is added (<see cref="NodeVeth.SetViaNode"/>),
/// as the plugin would have at its ADD. A pod made while the node ran a mode dropped since keeps a route
/// to a CIDR the node no longer routes: the routes its ADD recorded (<c>nodeRoutes</c>) that no mode has
/// any more are removed in the same pass, so that CIDR's packets take the pod's
/// default route again. What the pod routes through the node after the pass is recorded, so a route
/// added here is removed the same way later. Routes the pod's record does not name are never touched.
/// </summary>
public static class UnderlayRoutes
{
    /// <summary>
    /// Adds the missing cluster CIDRs to every committed underlay pod of <paramref name="store"/>,
    /// removes those its record names that no mode has now, and records what it has; returns the pods changed.
    /// </summary>
    /// <param name="store">The node's allocations.</param>
    /// <param name="clusterCidrs">The node's host-gw and overlay cluster CIDRs (empty: it runs neither).</param>
    /// <param name="log">Where each pod changed, and each that could not be, is said.</param>
    public static int Reconcile(AllocationStore store, IReadOnlyList<string> clusterCidrs, AgentLog log)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(clusterCidrs);
        ArgumentNullException.ThrowIfNull(log);
        var changed = 0;
        foreach (var record in store.All())
        {
            if (record.State != AllocationState.Committed || record.Allocation is not UnderlayAllocation underlay || record.NetnsPath is not { } netns)
                continue;
            var recorded = underlay.NodeRoutes ?? [];
            List<IpPrefix> missing = [.. clusterCidrs.Except(recorded).Select(IpPrefix.Parse)];
            List<IpPrefix> dropped = [.. recorded.Except(clusterCidrs).Select(IpPrefix.Parse)];
            if ((missing.Count == 0 && dropped.Count == 0) || !File.Exists(netns)) continue;  // a pod gone: the reconcile releases it
            try
            {
                using var pod = Netns.Open(netns);
                using var podLinks = NetlinkHandle.OpenIn(pod);
                var (added, removed) = NodeVeth.SetViaNode(podLinks, PodEni.NodeVethPodName, missing, dropped);
                // What the pod routes through the node now, recorded: a route added here goes as one
                // its ADD made does, when its mode goes.
                store.RecordNodeRoutes(record.Key, clusterCidrs);
                if (added.Count == 0 && removed.Count == 0) continue;
                changed++;
                if (added.Count > 0)
                    log.Info("pool.underlay-routes-added", $"underlay pod {record.Key} reaches {string.Join(", ", added)} through its node veth now (it was made before the node ran that mode)",
                        ("attachment", record.Key.ToString()), ("added", string.Join(",", added)));
                if (removed.Count > 0)
                    log.Info("pool.underlay-routes-removed", $"underlay pod {record.Key} no longer sends {string.Join(", ", removed)} to its node (the node runs no mode with that cluster CIDR any more)",
                        ("attachment", record.Key.ToString()), ("removed", string.Join(",", removed)));
            }
            catch (Exception e) when (e is NetlinkException or Fathom.Cni.CniException or IOException or AgentException)
            {
                log.Warning("pool.underlay-routes-failed", $"could not put underlay pod {record.Key}'s routes through its node veth right (add {Listed(missing)}, remove {Listed(dropped)}): {e.Message}; recreate the pod for it",
                    ("attachment", record.Key.ToString()), ("error", e.Message));
            }
        }
        return changed;
    }

    private static string Listed(List<IpPrefix> prefixes) => prefixes.Count == 0 ? "none" : string.Join(", ", prefixes);
}
