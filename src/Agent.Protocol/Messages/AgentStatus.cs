namespace Fathom.Agent.Protocol;

/// <summary>What <c>fathomctl status</c> renders: the agent, its pools, its ENIs, its allocations and its subnet modes.</summary>
public sealed record AgentStatus
{
    /// <summary>The agent's version (informational).</summary>
    public required string AgentVersion { get; init; }

    /// <summary>When the agent took this snapshot.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>One row per mode the agent serves.</summary>
    public IReadOnlyList<PoolStatus> Pools { get; set; } = [];

    /// <summary>One row per ENI the agent manages.</summary>
    public IReadOnlyList<EniStatus> Enis { get; set; } = [];

    /// <summary>One row per allocation.</summary>
    public IReadOnlyList<AllocationStatus> Allocations { get; set; } = [];

    /// <summary>Teardowns (ENIs moving back, veths being deleted) not yet done.</summary>
    public int PendingTeardowns { get; init; }

    /// <summary>Freed secondary IPs still cooling down before reuse.</summary>
    public int CoolingIps { get; init; }

    /// <summary>One row per subnet mode the agent runs (host-gw, overlay); none without a <c>subnets</c> section.</summary>
    public IReadOnlyList<SubnetStatus> Subnets { get; set; } = [];
}

/// <summary>A subnet mode on the node: its lease of the cluster's pod range and the pods holding its addresses.</summary>
public sealed record SubnetStatus
{
    /// <summary>host-gw or overlay.</summary>
    public required AllocationMode Mode { get; init; }

    /// <summary>The node's leased subnet (e.g. 10.244.3.0/24), or null before it has one.</summary>
    public string? Subnet { get; init; }

    /// <summary>When the lease ends unless renewed; null for a lease that does not expire, or no lease.</summary>
    public DateTimeOffset? LeaseExpires { get; init; }

    /// <summary>Other nodes' live leases, routed to (host-gw) or tunnelled to (overlay).</summary>
    public int Peers { get; init; }

    /// <summary>Why an ADD is refused now (no lease yet, the datastore unreachable, a subnet conflict), or null.</summary>
    public string? Unavailable { get; init; }

    /// <summary>The pods holding addresses of the node's subnet, those whose veth is still being deleted included.</summary>
    public IReadOnlyList<SubnetPodStatus> Pods { get; set; } = [];
}

/// <summary>A pod holding an address of its node's subnet.</summary>
public sealed record SubnetPodStatus
{
    /// <summary>The network's name.</summary>
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }

    /// <summary>The pod's address (a /32 behind its veth).</summary>
    public required string Ip { get; init; }

    /// <summary>The node end of the pod's veth.</summary>
    public required string HostVeth { get; init; }

    /// <summary>True between DEL and its veth's deletion: the address is not free yet.</summary>
    public bool Releasing { get; init; }
}

/// <summary>A warm pool: how much is free, used and cooling, and what the agent aims for.</summary>
public sealed record PoolStatus
{
    /// <summary>The mode the pool serves.</summary>
    public required AllocationMode Mode { get; init; }

    /// <summary>Ready to hand out now (ENIs for underlay, IPs for shared).</summary>
    public int Available { get; init; }

    /// <summary>Held by pods.</summary>
    public int InUse { get; init; }

    /// <summary>Freed but not yet reusable (IP cooldown, teardown in progress).</summary>
    public int Cooling { get; init; }

    /// <summary>The warm target the agent refills towards.</summary>
    public int WarmTarget { get; init; }

    /// <summary>The most this node can ever hold in this mode (instance limits).</summary>
    public int Capacity { get; init; }
}

/// <summary>One ENI the agent manages.</summary>
public sealed record EniStatus
{
    /// <summary>The cloud's ENI id.</summary>
    public required string EniId { get; init; }

    /// <summary>The ENI's MAC.</summary>
    public required string Mac { get; init; }

    /// <summary>The attachment's device index (0 is the primary ENI).</summary>
    public int DeviceIndex { get; init; }

    /// <summary>Its name in the host namespace, or null while it is in a pod.</summary>
    public string? HostDevice { get; init; }

    /// <summary>The subnet it is in.</summary>
    public string? SubnetId { get; init; }

    /// <summary>What it is used for: "warm", "underlay" (in a pod), "shared" (carries pod IPs), "primary".</summary>
    public required string Use { get; init; }

    /// <summary>Secondary IPs on it held by pods.</summary>
    public int IpsInUse { get; init; }

    /// <summary>Secondary IPs it can carry.</summary>
    public int IpsCapacity { get; init; }
}

/// <summary>One allocation: which attachment holds what, since when.</summary>
public sealed record AllocationStatus
{
    /// <summary>The network's name.</summary>
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID.</summary>
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME.</summary>
    public required string IfName { get; init; }

    /// <summary>The pod, when known.</summary>
    public PodIdentity? Pod { get; init; }

    /// <summary>What it holds.</summary>
    public required Allocation Allocation { get; init; }

    /// <summary>"pending" (recorded, not yet confirmed) or "committed".</summary>
    public required string State { get; init; }

    /// <summary>When the allocation was recorded.</summary>
    public required DateTimeOffset Since { get; init; }
}
