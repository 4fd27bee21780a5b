using System.Text.Json.Serialization;

namespace Fathom.Agent.Protocol;

/// <summary>
/// host-gw and overlay (DESIGN §3, issue 10): the pod gets one address of the pod subnet the node
/// leased from the cluster datastore, as a /32 behind a veth to the node (the same bridgeless wiring
/// as shared mode: default route via the link-local <see cref="Allocation.Gateway"/>). No ENI:
/// <see cref="Allocation.EniId"/> is empty.
/// </summary>
public abstract record PodSubnetAllocation : Allocation
{
    /// <inheritdoc />
    [JsonIgnore]
    protected override bool HasEni => false;

    /// <summary>The node's leased pod subnet the address is from (<c>10.244.3.0/24</c>).</summary>
    public required string Subnet { get; init; }

    /// <summary>The name the host side of the pod's veth gets.</summary>
    public required string HostVeth { get; init; }

    /// <summary>The pod's MTU: the fabric's for host-gw, 50 less for overlay (VXLAN's overhead).</summary>
    public required int Mtu { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (!Address.EndsWith("/32", StringComparison.Ordinal))
            throw Invalid($"address '{Address}' is not a /32");
        if (!IsIPv4Prefix(Subnet))
            throw Invalid($"subnet '{Subnet}' is not an IPv4 prefix");
        if (string.IsNullOrEmpty(HostVeth) || HostVeth.Length > 15 || HostVeth.Contains('/', StringComparison.Ordinal))
            throw Invalid($"hostVeth '{HostVeth}' is not an interface name");
        if (Mtu is < 68 or > 65535)
            throw Invalid($"mtu {Mtu} is out of range");
    }
}

/// <summary>host-gw: remote pod subnets are routed via their nodes' IPs.</summary>
public sealed record HostGwAllocation : PodSubnetAllocation
{
    /// <inheritdoc />
    [JsonIgnore]
    public override AllocationMode Mode => AllocationMode.HostGw;
}

/// <summary>overlay: remote pod subnets are reached through the node's VXLAN device.</summary>
public sealed record OverlayAllocation : PodSubnetAllocation
{
    /// <inheritdoc />
    [JsonIgnore]
    public override AllocationMode Mode => AllocationMode.Overlay;
}
