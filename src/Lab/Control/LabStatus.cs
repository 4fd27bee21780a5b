using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>What <c>lab status [--json]</c> reports.</summary>
public sealed record LabStatus
{
    public required string Prefix { get; init; }
    /// <summary>"up", "down", "starting", "failed" or "degraded" (a process or netns is missing: the server died, or a namespace was deleted).</summary>
    public required string State { get; init; }
    public string? Error { get; init; }
    public LabVpcStatus? Vpc { get; init; }
    public IReadOnlyList<LabSubnet> Subnets { get; init; } = [];
    public IReadOnlyList<LabNode> Nodes { get; init; } = [];
    public IReadOnlyList<LabPod> Pods { get; init; } = [];
    public string? Ec2Endpoint { get; init; }
    public int? ServerPid { get; init; }

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
            Pods = [.. LabStateStore.LoadPods(layout).Where(p => Netns.Exists(p.Netns))],
            Ec2Endpoint = state.LoopbackPort > 0 ? state.LoopbackEndpoint : null,
            ServerPid = state.ServerPid > 0 ? state.ServerPid : null,
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, LabStatusJsonContext.Default.LabStatus);
}

public sealed record LabVpcStatus(string VpcId, string Netns, string Cidr, string? Ec2Endpoint, string ImdsEndpoint);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LabStatus))]
internal sealed partial class LabStatusJsonContext : JsonSerializerContext;
