using System.Net;
using System.Net.Sockets;
using System.Text.Json.Serialization;

namespace Fathom.Agent.Protocol;

/// <summary>
/// What an attachment holds: a whole ENI (<see cref="UnderlayAllocation"/>) or one secondary IP of
/// an ENI (<see cref="SharedAllocation"/>). On the wire <c>mode</c> says which. The same shape is
/// what the agent records durably (docs/agent.md).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "mode")]
[JsonDerivedType(typeof(UnderlayAllocation), "underlay")]
[JsonDerivedType(typeof(SharedAllocation), "shared")]
[JsonDerivedType(typeof(HostGwAllocation), "host-gw")]
[JsonDerivedType(typeof(OverlayAllocation), "overlay")]
public abstract record Allocation
{
    /// <summary>The ENI: the one moved into the pod (underlay) or the one whose secondary IP the pod uses (shared).</summary>
    public required string EniId { get; init; }

    /// <summary>The subnet's gateway, the pod's default route (e.g. <c>10.0.1.1</c>).</summary>
    public required string Gateway { get; init; }

    /// <summary>The pod's address with its prefix length (<c>10.0.1.5/24</c> underlay, <c>10.0.1.9/32</c> shared).</summary>
    public required string Address { get; init; }

    /// <summary>The mode this allocation is for.</summary>
    [JsonIgnore]
    public abstract AllocationMode Mode { get; }

    /// <summary>Whether the allocation is of an ENI (underlay, shared); the subnet modes' have none and an empty <see cref="EniId"/>.</summary>
    [JsonIgnore]
    protected virtual bool HasEni => true;

    /// <summary>The address without its prefix length: the IP the pod holds.</summary>
    [JsonIgnore]
    public string Ip => Address.Split('/')[0];

    /// <summary>Throws <see cref="AgentException"/> (<see cref="AgentErrorCode.MalformedMessage"/>) when a field is not what its kind needs.</summary>
    public virtual void Validate()
    {
        if (HasEni && string.IsNullOrEmpty(EniId))
            throw Invalid("eniId is empty");
        if (!IPAddress.TryParse(Gateway, out var gateway) || gateway.AddressFamily != AddressFamily.InterNetwork)
            throw Invalid($"gateway '{Gateway}' is not an IPv4 address");
        var slash = Address.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0
            || !IPAddress.TryParse(Address.AsSpan(0, slash), out var ip) || ip.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(Address.AsSpan(slash + 1), out var prefix) || prefix is < 1 or > 32)
            throw Invalid($"address '{Address}' is not an IPv4 address with a prefix length");
    }

    /// <summary>Whether <paramref name="text"/> is an IPv4 address with a prefix length (<c>10.0.0.0/16</c>).</summary>
    protected static bool IsIPv4Prefix(string? text)
    {
        var slash = text?.IndexOf('/', StringComparison.Ordinal) ?? -1;
        return slash >= 0
            && IPAddress.TryParse(text!.AsSpan(0, slash), out var ip) && ip.AddressFamily == AddressFamily.InterNetwork
            && int.TryParse(text.AsSpan(slash + 1), out var prefix) && prefix is >= 0 and <= 32;
    }

    /// <summary>The exception for a field of this allocation that is not valid.</summary>
    protected AgentException Invalid(string why) =>
        new(AgentErrorCode.MalformedMessage, $"the agent's {ModeName(Mode)} allocation is not valid: {why}");

    /// <summary>The name of <paramref name="mode"/> on the wire and in network configs.</summary>
    public static string ModeName(AllocationMode mode) => mode switch
    {
        AllocationMode.HostGw => "host-gw",
        _ => mode.ToString().ToLowerInvariant(),
    };
}

/// <summary>Underlay: the pod gets the whole ENI (DESIGN §3).</summary>
public sealed record UnderlayAllocation : Allocation
{
    /// <inheritdoc />
    [JsonIgnore]
    public override AllocationMode Mode => AllocationMode.Underlay;

    /// <summary>The ENI's MAC (<c>0a:1b:2c:3d:4e:5f</c>), kept in the pod.</summary>
    public required string Mac { get; init; }

    /// <summary>The ENI's name in the host namespace (e.g. <c>eth2</c>), restored when it comes back.</summary>
    public required string HostDevice { get; init; }

    /// <summary>The ENI's MTU, kept in the pod.</summary>
    public required int Mtu { get; init; }

    /// <summary>
    /// Optional: the node's own addresses (<c>10.0.0.12/32</c>), which the pod reaches through its
    /// small veth to the node rather than through the ENI (kubelet probes come from them, and the
    /// replies must go back the way they came). Absent or empty: the pod reaches nothing through the
    /// node veth but the node's link-local end.
    /// </summary>
    public IReadOnlyList<string>? NodeRoutes { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        foreach (var route in NodeRoutes ?? [])
            if (!IsIPv4Prefix(route))
                throw Invalid($"nodeRoutes entry '{route}' is not an IPv4 prefix");
        if (!PhysicalAddress.TryParseMac(Mac))
            throw Invalid($"mac '{Mac}' is not a MAC address");
        if (string.IsNullOrEmpty(HostDevice) || HostDevice.Length > 15 || HostDevice.Contains('/', StringComparison.Ordinal))
            throw Invalid($"hostDevice '{HostDevice}' is not an interface name");
        if (Mtu is < 68 or > 65535)
            throw Invalid($"mtu {Mtu} is out of range");
    }
}

/// <summary>Shared: the pod gets one secondary IP of an ENI, a veth and policy routing (DESIGN §3).</summary>
public sealed record SharedAllocation : Allocation
{
    /// <inheritdoc />
    [JsonIgnore]
    public override AllocationMode Mode => AllocationMode.Shared;

    /// <summary>The routing table of the ENI (<c>from podIP lookup RouteTable</c>).</summary>
    public required int RouteTable { get; init; }

    /// <summary>The name the host side of the pod's veth gets.</summary>
    public required string HostVeth { get; init; }

    /// <inheritdoc />
    public override void Validate()
    {
        base.Validate();
        if (!Address.EndsWith("/32", StringComparison.Ordinal))
            throw Invalid($"address '{Address}' is not a /32");
        if (RouteTable is < 1 or > 0x7FFFFFFF or 253 or 254 or 255)
            throw Invalid($"routeTable {RouteTable} is reserved or out of range");
        if (string.IsNullOrEmpty(HostVeth) || HostVeth.Length > 15 || HostVeth.Contains('/', StringComparison.Ordinal))
            throw Invalid($"hostVeth '{HostVeth}' is not an interface name");
    }
}

/// <summary>MAC syntax, without System.Net.NetworkInformation (kept out of the plugin's image).</summary>
internal static class PhysicalAddress
{
    public static bool TryParseMac(string? text)
    {
        if (text is null || text.Length != 17)
            return false;
        for (var i = 0; i < 17; i++)
        {
            var c = text[i];
            if (i % 3 == 2 ? c != ':' : !char.IsAsciiHexDigit(c))
                return false;
        }
        return true;
    }
}
