using System.Net.Sockets;
using Amazon.EC2.Model;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// What a lab looks like when nothing leaked (issue 9 §9), read from the three places that hold
/// the truth — the cloud (the lab's DescribeNetworkInterfaces), each node's agent (status) and the
/// kernel (each node's netns, each pod's) — as lists of problems, empty when all agree. Tests wait
/// for them to empty (the agent settles in the background) and fail with the last list.
/// </summary>
internal static class LabAudit
{
    private const string ClusterTag = "fathom.io/cluster";
    private const int ToPodPriority = 512;
    private const int FromPodPriority = 1536;

    public static AgentStatus Status(LabLayout layout, string node) =>
        new AgentClient(layout.AgentSocket(node), TimeSpan.FromSeconds(10)).Status();

    /// <summary>Waits until <paramref name="problems"/> returns none; fails with the last ones.</summary>
    public static void Settles(Func<List<string>> problems, string what, TimeSpan timeout)
    {
        List<string> last = [];
        try
        {
            Eventually.True(() =>
            {
                try
                {
                    last = problems();
                }
                catch (Exception e) when (e is AgentException or Amazon.Runtime.AmazonServiceException or IOException)
                {
                    last = [$"cannot read the lab: {e.Message}"];
                }
                return last.Count == 0;
            }, what, timeout, TimeSpan.FromMilliseconds(500));
        }
        catch (Xunit.Sdk.XunitException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n  " + string.Join("\n  ", last));
        }
    }

    /// <summary>
    /// No leak between the cloud, the agents and the live pods: every ENI tagged for the lab's
    /// cluster is attached and in its node's pool, none waits detached; every secondary IP the
    /// cloud gave a node is in its agent's shared pool (free, used or cooling) and none sits on an
    /// ENI a pod holds whole; the agent's allocations are exactly the live pods (container id and
    /// IP), none pending; no IP is held twice; no teardown is left.
    /// </summary>
    public static List<string> Leaks(LabLayout layout, LabState state, IReadOnlyCollection<LabRuntime.Pod> live)
    {
        var problems = new List<string>();
        using var ec2 = LabEc2Client.Create(state, maxErrorRetry: 3, observer: true);
        var tagged = ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest
        {
            Filters = [new Filter("tag:" + ClusterTag, [NodeAgentConfig.ClusterName(layout)])],
        }).GetAwaiter().GetResult().NetworkInterfaces;
        foreach (var eni in tagged.Where(e => e.Attachment is null))
            problems.Add($"cloud: {eni.NetworkInterfaceId} (tagged for {NodeOf(eni)}) is detached ({eni.Status}): leaked");
        foreach (var node in state.Nodes)
        {
            var status = Status(layout, node.Name);
            var attached = ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest
            {
                Filters = [new Filter("attachment.instance-id", [node.InstanceId])],
            }).GetAwaiter().GetResult().NetworkInterfaces;
            var known = status.Enis.ToDictionary(e => e.EniId, StringComparer.Ordinal);
            foreach (var eni in attached.Where(e => !known.ContainsKey(e.NetworkInterfaceId)))
                problems.Add($"{node.Name}: {eni.NetworkInterfaceId} is attached in the cloud but not in the agent's pool");
            foreach (var eni in known.Keys.Where(id => attached.All(e => e.NetworkInterfaceId != id)))
                problems.Add($"{node.Name}: the agent's pool has {eni}, which the cloud does not attach to {node.InstanceId}");
            var hosting = attached.Where(e => known.TryGetValue(e.NetworkInterfaceId, out var k) && k.Use is "primary" or "shared")
                .Sum(e => e.PrivateIpAddresses.Count - 1);
            foreach (var eni in attached.Where(e => known.TryGetValue(e.NetworkInterfaceId, out var k) && k.Use is "exclusive" or "warm"
                                                   && e.PrivateIpAddresses.Count > 1))
                problems.Add($"{node.Name}: {eni.NetworkInterfaceId} ({known[eni.NetworkInterfaceId].Use}) still carries {eni.PrivateIpAddresses.Count - 1} secondary IPs");
            var shared = status.Pools.Single(p => p.Mode == AllocationMode.Shared);
            if (shared.Available + shared.InUse + shared.Cooling != hosting)
                problems.Add($"{node.Name}: the cloud assigned {hosting} secondary IPs to hosting ENIs, the agent accounts for "
                    + $"{shared.Available} free + {shared.InUse} used + {shared.Cooling} cooling");
            if (status.PendingTeardowns > 0)
                problems.Add($"{node.Name}: {status.PendingTeardowns} teardowns pending");
            var here = live.Where(p => p.Node == node.Name).ToList();
            problems.AddRange(SubnetLeaks(node.Name, status, here));
            var pods = here.Where(p => !IsSubnetMode(p.Mode)).ToDictionary(p => p.ContainerId, StringComparer.Ordinal);
            foreach (var a in status.Allocations)
            {
                if (!pods.TryGetValue(a.ContainerId, out var pod))
                    problems.Add($"{node.Name}: allocation {a.ContainerId[..12]} ({a.Allocation.Ip}, {a.State}) has no live pod: leaked");
                else if (pod.Ip != a.Allocation.Ip)
                    problems.Add($"{node.Name}: pod {pod.Name} has {pod.Ip}, its allocation says {a.Allocation.Ip}");
                else if (a.State != "committed")
                    problems.Add($"{node.Name}: allocation of pod {pod.Name} is {a.State}");
            }
            foreach (var pod in pods.Values.Where(p => status.Allocations.All(a => a.ContainerId != p.ContainerId)))
                problems.Add($"{node.Name}: live pod {pod.Name} ({pod.Ip}) has no allocation");
        }
        foreach (var twice in live.GroupBy(p => p.Ip).Where(g => g.Count() > 1))
            problems.Add($"{twice.Key} is held by {twice.Count()} pods: {string.Join(", ", twice.Select(p => p.Name))}");
        return problems;
    }

    private static bool IsSubnetMode(string mode) => mode is "host-gw" or "overlay";

    /// <summary>
    /// The host-gw and overlay pods of a node (issue 10 §2: their IPAM is durable as the agent's
    /// other allocations): the addresses its agent counts as held are exactly its live pods of
    /// those modes, each with its own address, and no veth of a gone pod is still being deleted.
    /// </summary>
    private static IEnumerable<string> SubnetLeaks(string node, AgentStatus status, List<LabRuntime.Pod> here)
    {
        var held = status.Subnets.SelectMany(s => s.Pods.Select(p => (Mode: Allocation.ModeName(s.Mode), Pod: p))).ToList();
        var pods = here.Where(p => IsSubnetMode(p.Mode)).ToDictionary(p => p.ContainerId, StringComparer.Ordinal);
        foreach (var (mode, p) in held)
        {
            if (p.Releasing)
                yield return $"{node}: {mode} address {p.Ip} of a deleted pod ({p.ContainerId[..12]}) waits for its veth {p.HostVeth} to go";
            else if (!pods.TryGetValue(p.ContainerId, out var pod))
                yield return $"{node}: {mode} address {p.Ip} ({p.ContainerId[..12]}) has no live pod: leaked";
            else if (pod.Ip != p.Ip || pod.Mode != mode)
                yield return $"{node}: pod {pod.Name} has {pod.Ip} ({pod.Mode}), its agent says {p.Ip} ({mode})";
        }
        foreach (var pod in pods.Values.Where(p => held.All(h => h.Pod.ContainerId != p.ContainerId)))
            yield return $"{node}: live {pod.Mode} pod {pod.Name} ({pod.Ip}) holds no address of its node's subnet";
    }

    /// <summary>
    /// Nothing of a pod left in any node's kernel once no pod lives: no pod veth (fth…), no
    /// shared-mode rule (priorities 512, 1536); and every ENI of the node's pool
    /// is back in the node under the name the agent gave it.
    /// </summary>
    public static List<string> KernelLeftovers(LabLayout layout, LabState state)
    {
        var problems = new List<string>();
        foreach (var node in state.Nodes)
        {
            using var ns = Netns.Open(node.Netns);
            using var links = NetlinkHandle.OpenIn(ns);
            var all = links.ListLinks();
            foreach (var link in all.Where(l => l.Name.StartsWith("fth", StringComparison.Ordinal)))
                problems.Add($"{node.Name}: pod veth {link.Name} left");
            foreach (var rule in links.ListRules(AddressFamily.InterNetwork).Where(r => r.Priority is ToPodPriority or FromPodPriority))
                problems.Add($"{node.Name}: rule pref {rule.Priority} from {rule.From} to {rule.To} lookup {rule.Table} left");
            foreach (var eni in Status(layout, node.Name).Enis.Where(e => e.HostDevice is { } d && all.All(l => l.Name != d)))
                problems.Add($"{node.Name}: {eni.EniId}'s device {eni.HostDevice} is not in the node");
        }
        return problems;
    }

    private static string NodeOf(NetworkInterface eni) =>
        eni.TagSet?.FirstOrDefault(t => t.Key == "fathom.io/node")?.Value ?? "no node";
}
