using System.Text.RegularExpressions;
using Fathom.Lab.Ec2;
using Fathom.Lab.Topology;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>
/// The lab's instances while its server runs: the nodes <c>lab up</c> launches, and those
/// <c>lab node add</c> launches later or <c>lab node rm</c> terminates (issue 10 §6: a new node joins
/// while an etcd member is down). A node is made one way whenever it comes: a netns, an EC2 instance
/// whose primary ENI is plugged into it (so IMDS and DHCP answer it), then — in a lab that runs them
/// — its supervised <c>fathom-agent</c> and containerd. One add or remove at a time.
/// </summary>
internal sealed class LabNodes(LabLayout layout, Ec2Cloud cloud, VpcFabric fabric, string subnetId, Action<string> log)
{
    /// <summary>How long an added node's agent may take to listen.</summary>
    private static readonly TimeSpan AgentStartTimeout = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>Reads lab.json as the server holds it.</summary>
    public required Func<LabState> Current { get; init; }

    /// <summary>Changes lab.json (the server is its one writer) and returns the new state.</summary>
    public required Func<Func<LabState, LabState>, LabState> Update { get; init; }

    /// <summary>The nodes' agents, once started (null in a lab without agents).</summary>
    public NodeAgentSupervisor? Agents { get; set; }

    /// <summary>The nodes' containerd, once started (null in a lab without a runtime).</summary>
    public ContainerdSupervisor? Runtime { get; set; }

    /// <summary>Launches instance <paramref name="name"/> in its own netns, its primary ENI in the lab's first subnet.</summary>
    public async Task<LabNode> LaunchAsync(string name, string instanceType, CancellationToken cancellationToken)
    {
        var netns = layout.NodeNetns(name);
        Netns.Create(netns).Dispose();
        try
        {
            Instance instance;
            // Every node's primary ENI is in the first subnet: node↔node traffic is one L2 hop,
            // the baseline the benchmarks compare against.
            using (fabric.BeginLaunch(netns))
                instance = await cloud.LaunchInstanceAsync(instanceType, subnetId, name, cancellationToken);
            fabric.RegisterInstance(instance.InstanceId, netns);
            log($"node {instance.NodeName}: {instance.InstanceId} {instance.PrivateIp} in {netns}");
            return new LabNode(instance.NodeName, netns, instance.InstanceId, instance.InstanceType, instance.PrivateIp.ToString(), instance.MacAddress, instance.SubnetId);
        }
        catch
        {
            Netns.TryDelete(netns);
            throw;
        }
    }

    /// <summary>
    /// <c>lab node add</c>: a new instance (a new instance id, no state), recorded in lab.json, its agent
    /// (and containerd) started as at <c>lab up</c>; returns once its agent listens. Undone when a step fails.
    /// </summary>
    /// <exception cref="ArgumentException">A bad or taken name, or an unknown instance type.</exception>
    public async Task<LabNode> AddAsync(string name, string? instanceType, CancellationToken cancellationToken)
    {
        LabNodeName.Validate(name);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var state = Current();
            var type = instanceType ?? state.Options.InstanceType;
            if (!InstanceTypeLimits.Known.Any(t => t.Name == type))
                throw new ArgumentException($"unknown instance type '{type}' (known: {string.Join(", ", InstanceTypeLimits.Known.Select(t => t.Name))})");
            if (state.Nodes.Any(n => n.Name == name))
                throw new ArgumentException($"lab '{layout.Prefix}' already has a node '{name}' (nodes: {string.Join(", ", state.Nodes.Select(n => n.Name))})");
            if (Netns.Exists(layout.NodeNetns(name)))
                throw new ArgumentException($"netns {layout.NodeNetns(name)} exists already: not this lab's node, so not reused");
            var node = await LaunchAsync(name, type, cancellationToken);
            state = Update(s => s with { Nodes = [.. s.Nodes, node] });
            try
            {
                if (Agents is not null) await Agents.AddAsync(state, node, AgentStartTimeout, cancellationToken);
                Runtime?.Add(node);
            }
            catch
            {
                await RemoveLockedAsync(node);
                throw;
            }
            return node;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// <c>lab node rm</c>: stops the node's containerd and agent, terminates its instance (EC2 detaches and
    /// deletes its ENIs), deletes its netns and folder, and forgets it. Its subnet leases are left to expire,
    /// as a node that vanished leaves them; the other nodes forget its routes then.
    /// </summary>
    /// <exception cref="ArgumentException">No such node.</exception>
    /// <exception cref="InvalidOperationException">Pods recorded on it still exist: they go first (<c>lab pod del</c>).</exception>
    public async Task RemoveAsync(string name, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var node = Current().RequireNode(name);
            var pods = LabStateStore.LoadPods(layout).Where(p => p.Node == name && Netns.Exists(p.Netns)).Select(p => p.Name).ToList();
            if (pods.Count > 0)
                throw new InvalidOperationException($"node '{name}' has pods ({string.Join(", ", pods)}): 'fathomctl lab pod del' them first");
            await RemoveLockedAsync(node);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task RemoveLockedAsync(LabNode node)
    {
        Runtime?.Remove(node.Name);
        if (Agents is not null) await Agents.RemoveAsync(node.Name);
        try
        {
            await cloud.TerminateInstanceAsync(node.InstanceId);
        }
        catch (Ec2Exception e)
        {
            // Termination completes in EC2 whatever the fabric said; the netns goes below anyway.
            log($"node {node.Name}: terminating {node.InstanceId}: {e.Message}");
        }
        fabric.ForgetInstance(node.InstanceId);
        // Out of lab.json first: a lab whose recorded node has no netns would look degraded meanwhile.
        Update(s => s with { Nodes = [.. s.Nodes.Where(n => n.Name != node.Name)], Agents = [.. s.Agents.Where(a => a.Node != node.Name)] });
        LabControl.KillProcessesIn([node.Netns]);
        Netns.TryDelete(node.Netns);
        if (Directory.Exists(layout.NodeDirectory(node.Name))) Directory.Delete(layout.NodeDirectory(node.Name), recursive: true);
        log($"node {node.Name}: {node.InstanceId} terminated, {node.Netns} deleted");
    }
}

/// <summary>What a lab node may be called.</summary>
public static partial class LabNodeName
{
    /// <summary>
    /// A node's name: a lowercase letter, then up to 14 lowercase letters or digits — no dash, so its
    /// netns <c>PREFIX-NAME</c> is never a pod's (<c>PREFIX-pod-NAME</c>); not a name the lab's state
    /// directory uses for itself.
    /// </summary>
    /// <exception cref="ArgumentException">It is not one; the message says what is.</exception>
    public static void Validate(string name)
    {
        if (!Pattern().IsMatch(name ?? ""))
            throw new ArgumentException($"'{name}' is not a node name: a lowercase letter, then up to 14 lowercase letters or digits (e.g. node3)");
        if (name is "vpc" or "etcd" or "datastore")
            throw new ArgumentException($"'{name}' is taken by the lab itself: choose another node name");
    }

    [GeneratedRegex("^[a-z][a-z0-9]{0,14}$")]
    private static partial Regex Pattern();
}
