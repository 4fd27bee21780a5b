using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Datastore;

/// <summary>
/// The overlay's tunnel endpoint of a node: what a peer needs for its permanent neighbour and FDB
/// entries (flannel's vxlan backend: VTEP MAC → node IP).
/// </summary>
/// <param name="Mac">The MAC address of the node's VXLAN device.</param>
/// <param name="Vni">The VXLAN network identifier (24 bits).</param>
public sealed record Vtep(PhysicalAddress Mac, int Vni)
{
    /// <summary>Checks the VNI's range (VXLAN has 24 bits of it, RFC 7348 §5) and the MAC's length.</summary>
    public Vtep Validate()
    {
        if (Vni is < 0 or > 0xFFFFFF) throw new ArgumentOutOfRangeException(nameof(Vni), Vni, "a VNI has 24 bits (0–16777215)");
        if (Mac.GetAddressBytes().Length != 6) throw new ArgumentException($"a VTEP MAC has 6 bytes, not {Mac.GetAddressBytes().Length}", nameof(Mac));
        return this;
    }
}

/// <summary>What a node publishes with its lease: who it is and how peers reach its pods.</summary>
/// <param name="NodeName">The Kubernetes node name; the key a lease is found by again after a restart.</param>
/// <param name="NodeIp">The address peers route the node's subnet through (host-gw) or tunnel to (overlay).</param>
/// <param name="Vtep">The overlay's tunnel endpoint, or null for host-gw.</param>
/// <param name="NodeMac">
/// host-gw: the MAC of the node's fabric device, which peers pin as a permanent neighbour of the node
/// IP so their next hop never depends on ARP (a cloud VPC's router, and the lab's, answers ARP for the
/// whole subnet with its own MAC); null where unknown.
/// </param>
public sealed record NodeAttributes(string NodeName, IPAddress NodeIp, Vtep? Vtep = null, PhysicalAddress? NodeMac = null)
{
    /// <summary>Rejects what cannot be stored: an empty node name, or one with a '/' or a control character.</summary>
    public NodeAttributes Validate()
    {
        if (string.IsNullOrWhiteSpace(NodeName) || NodeName.Length > 253 || NodeName.Any(c => c == '/' || char.IsControl(c)))
            throw new ArgumentException($"'{NodeName}' is not a node name (1–253 characters, no '/')", nameof(NodeName));
        Vtep?.Validate();
        return this;
    }
}

/// <summary>One node's lease on one pod subnet of the cluster CIDR.</summary>
/// <param name="Subnet">The node's pod subnet, e.g. 10.244.3.0/24.</param>
/// <param name="Node">The holder and what it publishes.</param>
/// <param name="Expires">
/// When the lease ends unless renewed, as the store computed it; null where the store does not
/// know it cheaply (leases of other nodes read from etcd, whose TTLs live in etcd's lease table).
/// </param>
public sealed record SubnetLease(IPNetwork Subnet, NodeAttributes Node, DateTimeOffset? Expires)
{
    /// <summary>Same subnet and same published attributes: a renewal changes nothing a peer routes by.</summary>
    public bool SameRouting(SubnetLease other) =>
        Subnet.Equals(other.Subnet) && Node.NodeName == other.Node.NodeName && Node.NodeIp.Equals(other.Node.NodeIp)
        && Equals(Node.NodeMac, other.Node.NodeMac)
        && (Node.Vtep is null ? other.Node.Vtep is null
            : other.Node.Vtep is not null && Node.Vtep.Vni == other.Node.Vtep.Vni && Node.Vtep.Mac.Equals(other.Node.Vtep.Mac));
}

/// <summary>What happened to a lease, as a watch reports it.</summary>
public enum SubnetLeaseEventKind
{
    /// <summary>A lease appeared, or its holder's attributes (node IP, VTEP) changed: (re)program routes to it.</summary>
    Added,

    /// <summary>A lease was released or expired: forget the routes to it.</summary>
    Removed,
}

/// <summary>One change seen by <see cref="ISubnetLeaseStore.WatchAsync"/>.</summary>
/// <param name="Kind">Added (or changed) or removed.</param>
/// <param name="Lease">The lease as it is now (added) or as it was last seen (removed).</param>
public sealed record SubnetLeaseEvent(SubnetLeaseEventKind Kind, SubnetLease Lease);
