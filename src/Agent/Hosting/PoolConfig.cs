using System.Text.Json.Serialization;
using Fathom.Agent.Pools;
using Fathom.Agent.Sticky;

namespace Fathom.Agent.Hosting;

/// <summary>
/// <c>cloud</c> in agent.json: which cloud the agent asks for ENIs and IPs, and where its API and
/// metadata service are. Absent: the agent keeps state but allocates nothing new (code 11).
/// </summary>
public sealed record CloudConfig
{
    /// <summary>The provider: <c>aws</c> (EC2, or the lab through it) or <c>host</c> (NICs already on the node, <see cref="Host"/>).</summary>
    public string Provider { get; set; } = "aws";

    /// <summary>Provider <c>host</c>: which of the node's NICs to pool and how they are addressed.</summary>
    public Fathom.Cloud.Host.HostNicConfig? Host { get; set; }

    /// <summary>The region; null: the instance's own, from the metadata service.</summary>
    public string? Region { get; set; }

    /// <summary>An EC2 endpoint other than the region's (the lab's emulated EC2, a VPC endpoint).</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>A static access key id (the lab); null: the SDK's default chain (instance role).</summary>
    public string? AccessKeyId { get; set; }

    /// <summary>The secret of <see cref="AccessKeyId"/>.</summary>
    public string? SecretAccessKey { get; set; }

    /// <summary>The metadata service (default <c>http://169.254.169.254/</c>; the lab's otherwise).</summary>
    public string? ImdsEndpoint { get; set; }

    internal void Validate(string source)
    {
        if (Provider is not ("aws" or "host"))
            throw new AgentConfigException($"{source}: cloud.provider '{Provider}' is not one this agent knows (aws, host)");
        if (Provider == "host")
        {
            if (Host is null)
                throw new AgentConfigException($"{source}: cloud.provider is host but cloud.host is missing: it says which NICs the agent may hand out (names, macs or pattern)");
            if (Host.Validate() is { } error)
                throw new AgentConfigException($"{source}: {error}");
            if (ServiceUrl is not null || ImdsEndpoint is not null || AccessKeyId is not null || Region is not null)
                throw new AgentConfigException($"{source}: cloud.provider host calls no cloud: region, serviceUrl, imdsEndpoint and the keys do not apply");
            return;
        }
        if (Host is not null)
            throw new AgentConfigException($"{source}: cloud.host is set but cloud.provider is '{Provider}', not host");
        if (ServiceUrl is not null && !IsHttpUrl(ServiceUrl))
            throw new AgentConfigException($"{source}: cloud.serviceUrl '{ServiceUrl}' is not an absolute http(s) URL");
        if (ImdsEndpoint is not null && !IsHttpUrl(ImdsEndpoint))
            throw new AgentConfigException($"{source}: cloud.imdsEndpoint '{ImdsEndpoint}' is not an absolute http(s) URL");
        if ((AccessKeyId is null) != (SecretAccessKey is null) || AccessKeyId == "" || SecretAccessKey == "")
            throw new AgentConfigException($"{source}: cloud.accessKeyId and cloud.secretAccessKey go together (both non-empty, or neither)");
    }

    private static bool IsHttpUrl(string text) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https";
}

/// <summary>
/// <c>pools</c> in agent.json: the warm targets (AWS VPC CNI's WARM_ENI_TARGET, WARM_IP_TARGET,
/// MINIMUM_IP_TARGET, MAX_ENI), where new ENIs go, and how an ADD is served.
/// </summary>
public sealed record PoolConfig
{
    /// <summary>The cluster name every ENI the agent creates is tagged with (the leaked-ENI sweep finds them by it).</summary>
    public string Cluster { get; set; } = "";

    /// <summary>This node's name in the ENI tags; null: the host name.</summary>
    public string? NodeName { get; set; }

    /// <summary>Warm ENIs (attached, nothing in use).</summary>
    public int WarmEnis { get; set; } = 1;

    /// <summary>Free secondary IPs.</summary>
    public int WarmIps { get; set; } = 2;

    /// <summary>Secondary IPs held at least.</summary>
    public int MinimumIps { get; set; }

    /// <summary>Attached ENIs at most, the primary counted; null: the instance type's limit.</summary>
    public int? MaxEnis { get; set; }

    /// <summary>Subnets for new ENIs, tried in order; empty: the primary ENI's subnet.</summary>
    public IReadOnlyList<string> SubnetIds { get; set; } = [];

    /// <summary>Security groups of new ENIs; empty: the primary ENI's.</summary>
    public IReadOnlyList<string> SecurityGroupIds { get; set; } = [];

    /// <summary>The mode of an ADD that asks for none: <c>underlay</c> or <c>shared</c>.</summary>
    public string DefaultMode { get; set; } = "shared";

    /// <summary><c>shared</c>: an underlay ADD that finds no ENI left (limit reached) gets a shared IP instead, when the request allows it; <c>none</c>: it fails.</summary>
    public string Fallback { get; set; } = "none";

    /// <summary>How long an ADD waits for the refiller when nothing is free, before code 11.</summary>
    public double AllocateTimeoutSeconds { get; set; } = 10;

    /// <summary>The MTU an underlay pod's ENI gets (the VPC's jumbo frames).</summary>
    public int Mtu { get; set; } = 9001;

    /// <summary>How often the refiller looks at the pools when nothing wakes it.</summary>
    public double RefillIntervalSeconds { get; set; } = 5;

    /// <summary>How often reconcile runs (the leaked-ENI sweep among it).</summary>
    public double ReconcileIntervalSeconds { get; set; } = 300;

    /// <summary>How many ENIs are created and attached at once.</summary>
    public int ParallelAttaches { get; set; } = 4;

    /// <summary>Which pods keep their ENI across deletion and rescheduling (issue 11 §3, docs/agent.md "Sticky ENIs"); null: none.</summary>
    public StickyConfig? Sticky { get; set; }

    /// <summary>The targets as the planner takes them.</summary>
    [JsonIgnore]
    public PoolTargets Targets => new() { WarmEnis = WarmEnis, WarmIps = WarmIps, MinimumIps = MinimumIps, MaxEnis = MaxEnis };

    /// <summary><see cref="NodeName"/>, or the host name.</summary>
    [JsonIgnore]
    public string EffectiveNodeName => string.IsNullOrEmpty(NodeName) ? Environment.MachineName : NodeName;

    /// <summary><see cref="DefaultMode"/> parsed.</summary>
    [JsonIgnore]
    public Protocol.AllocationMode DefaultAllocationMode =>
        DefaultMode == "underlay" ? Protocol.AllocationMode.Underlay : Protocol.AllocationMode.Shared;

    internal void Validate(string source)
    {
        if (string.IsNullOrEmpty(Cluster))
            throw new AgentConfigException($"{source}: pools.cluster is required: every ENI the agent creates is tagged with it, and the leaked-ENI sweep finds them by it");
        if (Cluster.Length > 128 || (NodeName?.Length ?? 0) > 128)
            throw new AgentConfigException($"{source}: pools.cluster and pools.nodeName are tag values, 128 characters at most");
        if (WarmEnis is < 0 or > 64) throw Range("warmEnis", WarmEnis, "0..64");
        if (WarmIps is < 0 or > 4096) throw Range("warmIps", WarmIps, "0..4096");
        if (MinimumIps is < 0 or > 4096) throw Range("minimumIps", MinimumIps, "0..4096");
        if (MaxEnis is { } max && max is < 1 or > 64) throw Range("maxEnis", max, "1..64 (the primary counted)");
        if (Mtu is < 576 or > 9001) throw Range("mtu", Mtu, "576..9001");
        if (ParallelAttaches is < 1 or > 16) throw Range("parallelAttaches", ParallelAttaches, "1..16");
        if (!double.IsFinite(AllocateTimeoutSeconds) || AllocateTimeoutSeconds is < 0 or > 60)
            throw Range("allocateTimeoutSeconds", AllocateTimeoutSeconds, "0..60 (the plugin gives up after 30 s)");
        if (!double.IsFinite(RefillIntervalSeconds) || RefillIntervalSeconds is < 0.1 or > 3600)
            throw Range("refillIntervalSeconds", RefillIntervalSeconds, "0.1..3600");
        if (!double.IsFinite(ReconcileIntervalSeconds) || ReconcileIntervalSeconds is < 1 or > 86400)
            throw Range("reconcileIntervalSeconds", ReconcileIntervalSeconds, "1..86400");
        if (DefaultMode is not ("underlay" or "shared"))
            throw new AgentConfigException($"{source}: pools.defaultMode '{DefaultMode}' is not underlay or shared");
        if (Fallback is not ("shared" or "none"))
            throw new AgentConfigException($"{source}: pools.fallback '{Fallback}' is not shared or none");
        foreach (var id in SubnetIds)
            if (!id.StartsWith("subnet-", StringComparison.Ordinal))
                throw new AgentConfigException($"{source}: pools.subnetIds has '{id}', not a subnet id (subnet-…)");
        foreach (var id in SecurityGroupIds)
            if (!id.StartsWith("sg-", StringComparison.Ordinal))
                throw new AgentConfigException($"{source}: pools.securityGroupIds has '{id}', not a security group id (sg-…)");
        if (Sticky?.Validate() is { } sticky)
            throw new AgentConfigException($"{source}: {sticky}");

        AgentConfigException Range(string field, double value, string range) =>
            new($"{source}: pools.{field} {value} is outside {range}");
    }
}
