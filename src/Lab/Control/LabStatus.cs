using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>What <c>lab status [--json]</c> reports.</summary>
public sealed record LabStatus
{
    /// <summary>The lab's prefix.</summary>
    public required string Prefix { get; init; }
    /// <summary>"up", "down", "starting", "failed" or "degraded" (a process or netns is missing: the server died, or a namespace was deleted).</summary>
    public required string State { get; init; }
    /// <summary>What is wrong, for the operator, when <see cref="State"/> is not "up".</summary>
    public string? Error { get; init; }
    /// <summary>The VPC, once the server has recorded it.</summary>
    public LabVpcStatus? Vpc { get; init; }
    /// <summary>The subnets (CIDR, gateway).</summary>
    public IReadOnlyList<LabSubnet> Subnets { get; init; } = [];
    /// <summary>The nodes (name, netns, instance id and type, primary IP).</summary>
    public IReadOnlyList<LabNode> Nodes { get; init; } = [];
    /// <summary>The node agents the server runs (node, pid, socket); an agent the server is restarting shows its last pid.</summary>
    public IReadOnlyList<LabAgent> Agents { get; init; } = [];
    /// <summary>Recorded pods whose netns still exists.</summary>
    public IReadOnlyList<LabPod> Pods { get; init; } = [];
    /// <summary>The EC2 endpoint on 127.0.0.1 for host tools.</summary>
    public string? Ec2Endpoint { get; init; }
    /// <summary>The server's pid, once started.</summary>
    public int? ServerPid { get; init; }
    /// <summary>How pods are made on the nodes: cni (lab pod add runs the plugin) or containerd, with each node's containerd pid.</summary>
    public LabRuntimeStatus? Runtime { get; init; }
    /// <summary>Where the agents keep their host-gw and overlay leases: embedded (a directory) or etcd (each member's pid and health).</summary>
    public LabDatastoreStatus? Datastore { get; init; }

    /// <summary>Reads the lab's state and checks it against the machine.</summary>
    public static LabStatus Read(LabLayout layout)
    {
        var state = LabStateStore.TryLoad(layout);
        if (state is null)
        {
            var leftovers = Netns.List().Any(layout.Owns);
            return new LabStatus { Prefix = layout.Prefix, State = leftovers ? "degraded" : "down", Error = leftovers ? "namespaces without state: run 'fathomctl lab down'" : null };
        }
        // A server that died while building (its `lab up` interrupted, so nobody cleaned up)
        // would otherwise stay "starting" for ever.
        var diedStarting = state.Phase == LabPhase.Starting && state.ServerPid > 0 && !Signal.IsAlive(state.ServerPid);
        var health = state.Phase switch
        {
            LabPhase.Starting => diedStarting ? "degraded" : "starting",
            LabPhase.Failed => "failed",
            _ => LabControl.IsHealthy(layout, state) ? "up" : "degraded",
        };
        return new LabStatus
        {
            Prefix = layout.Prefix,
            State = health,
            Error = diedStarting ? $"the server (pid {state.ServerPid}) died before the lab was ready (see {layout.ServerLog}); 'fathomctl lab up' rebuilds it" : state.Error,
            Vpc = new LabVpcStatus(state.VpcId, state.VpcNetns, LabLayout.VpcCidr.ToString(), state.VpcEndpoint, $"http://{LabLayout.ImdsAddress}"),
            Subnets = state.Subnets,
            Nodes = state.Nodes,
            Agents = state.Agents,
            // A pod is recorded by netns name, or by path (a runtime's netns outside /run/netns).
            Pods = [.. LabStateStore.LoadPods(layout).Where(p => Netns.Exists(p.Netns))],
            Ec2Endpoint = state.LoopbackPort > 0 ? state.LoopbackEndpoint : null,
            ServerPid = state.ServerPid > 0 ? state.ServerPid : null,
            Runtime = LabStatusDetails.Runtime(layout, state),
            Datastore = LabStatusDetails.Datastore(layout, state),
        };
    }

    /// <summary>What <c>lab status --json</c> prints (camelCase, nulls left out).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, LabStatusJsonContext.Default.LabStatus);
}

/// <summary>The VPC in <c>lab status</c>.</summary>
/// <param name="VpcId">EC2's id (vpc-…).</param>
/// <param name="Netns">The VPC's netns.</param>
/// <param name="Cidr">10.0.0.0/16.</param>
/// <param name="Ec2Endpoint">The EC2 endpoint as instances reach it.</param>
/// <param name="ImdsEndpoint">http://169.254.169.254.</param>
public sealed record LabVpcStatus(string VpcId, string Netns, string Cidr, string? Ec2Endpoint, string ImdsEndpoint);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LabStatus))]
internal sealed partial class LabStatusJsonContext : JsonSerializerContext;
