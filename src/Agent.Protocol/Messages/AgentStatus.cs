namespace Fathom.Agent.Protocol;

/// <summary>What <c>fathomctl status</c> renders: the agent, its pools, its ENIs and its allocations.</summary>
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
