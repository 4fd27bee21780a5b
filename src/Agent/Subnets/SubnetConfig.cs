using System.Net;
using System.Text.Json.Serialization;
using Fathom.Datastore.Configuration;

namespace Fathom.Agent.Subnets;

/// <summary>
/// The <c>subnets</c> section of agent.json (docs/agent.md, "Subnet modes"): the node's lease of a pod
/// subnet for host-gw and/or overlay pods (DESIGN §3, §7). Each mode has its own cluster CIDR and
/// datastore, so a node serves both at once: a remote subnet is either routed via its node (host-gw)
/// or through the VXLAN device (overlay), never both.
/// </summary>
public sealed record SubnetConfig
{
    /// <summary>The node's name in the leases; default: <c>pools.nodeName</c>, else the host name.</summary>
    public string? NodeName { get; set; }

    /// <summary>The node's fabric address peers route or tunnel to; default: the first IPv4 address of <see cref="FabricDevice"/>.</summary>
    public string? NodeIp { get; set; }

    /// <summary>The node's fabric interface; default: the device of the default route.</summary>
    public string? FabricDevice { get; set; }

    /// <summary>How often the kernel's routes, neighbours and FDB entries are re-checked against the leases.</summary>
    public double ReconcileSeconds { get; set; } = 10;

    /// <summary>The host-gw mode, or null when the node serves none.</summary>
    public HostGwSection? HostGw { get; set; }

    /// <summary>The overlay mode, or null when the node serves none.</summary>
    public OverlaySection? Overlay { get; set; }

    /// <summary>The modes' cluster CIDRs (host-gw's, then overlay's): what only the nodes route.</summary>
    [JsonIgnore]
    public IReadOnlyList<string> ClusterCidrs => [.. new[] { HostGw?.Datastore, Overlay?.Datastore }.OfType<SubnetDatastoreConfig>().Select(d => d.ClusterCidr)];

    internal void Validate(string source)
    {
        if (HostGw is null && Overlay is null)
            throw new SubnetConfigException($"{source}: subnets has neither hostGw nor overlay");
        if (NodeIp is not null && (!IPAddress.TryParse(NodeIp, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork))
            throw new SubnetConfigException($"{source}: subnets.nodeIp '{NodeIp}' is not an IPv4 address");
        if (FabricDevice is not null && (FabricDevice.Length is 0 or > 15 || FabricDevice.Contains('/', StringComparison.Ordinal)))
            throw new SubnetConfigException($"{source}: subnets.fabricDevice '{FabricDevice}' is not an interface name");
        if (!double.IsFinite(ReconcileSeconds) || ReconcileSeconds is < 0.1 or > 3600)
            throw new SubnetConfigException($"{source}: subnets.reconcileSeconds {ReconcileSeconds} is outside 0.1..3600");
        HostGw?.Datastore.Validate(source, "subnets.hostGw.datastore");
        if (HostGw is not null) HostGwSection.ValidateRedirect(source, "subnets.hostGw", HostGw.Redirect);
        if (Overlay is not null) HostGwSection.ValidateRedirect(source, "subnets.overlay", Overlay.Redirect);
        Overlay?.Validate(source);
        if (HostGw is not null && Overlay is not null && HostGw.Datastore.SharesWith(Overlay.Datastore))
            throw new SubnetConfigException($"{source}: subnets.hostGw and subnets.overlay use the same datastore location: give each its own directory or cluster name");
    }
}

/// <summary>host-gw's section: its datastore and its pod path.</summary>
public sealed record HostGwSection
{
    /// <summary>Where the leases are.</summary>
    public required SubnetDatastoreConfig Datastore { get; set; }

    /// <summary>
    /// The pod path: <c>kernel</c> (the node forwards; the default) or <c>bpf</c> (the tc programs of
    /// <see cref="Fathom.Datapath.PodRedirect"/> carry pod-to-pod packets past the node's stack — not for
    /// clusters whose Services go through kube-proxy: docs/modes.md, "The tc BPF pod path").
    /// </summary>
    public string Redirect { get; set; } = RedirectKernel;

    /// <summary>
    /// Outgoing NAT (<see cref="SubnetMasquerade"/>): a pod's packet to anything outside the node's subnet
    /// modes' CIDRs leaves with the node's address. Default on; off where the network routes the pod CIDR.
    /// </summary>
    public bool Masquerade { get; set; } = true;

    /// <summary>The values of <see cref="Redirect"/>.</summary>
    public const string RedirectKernel = "kernel", RedirectBpf = "bpf";

    internal static void ValidateRedirect(string source, string at, string redirect)
    {
        if (redirect is not (RedirectKernel or RedirectBpf))
            throw new SubnetConfigException($"{source}: {at}.redirect '{redirect}' is not kernel or bpf");
    }
}

/// <summary>overlay's section: its datastore and its VXLAN device.</summary>
public sealed record OverlaySection
{
    /// <summary>Where the leases are.</summary>
    public required SubnetDatastoreConfig Datastore { get; set; }

    /// <summary>The VXLAN network identifier.</summary>
    public int Vni { get; set; } = 1;

    /// <summary>The VXLAN UDP port (IANA's 4789).</summary>
    public int Port { get; set; } = 4789;

    /// <summary>The VXLAN device's name; default <c>fathom.VNI</c>.</summary>
    public string? Device { get; set; }

    /// <summary>The pod path, as <see cref="HostGwSection.Redirect"/>: <c>to_pod</c> then sits on the VXLAN device.</summary>
    public string Redirect { get; set; } = HostGwSection.RedirectKernel;

    /// <summary>Outgoing NAT, as <see cref="HostGwSection.Masquerade"/>.</summary>
    public bool Masquerade { get; set; } = true;

    /// <summary>The device name in effect.</summary>
    [JsonIgnore]
    public string EffectiveDevice => Device ?? $"fathom.{Vni}";

    internal void Validate(string source)
    {
        Datastore.Validate(source, "subnets.overlay.datastore");
        if (Vni is < 0 or > 0xFFFFFF)
            throw new SubnetConfigException($"{source}: subnets.overlay.vni {Vni} is outside 0..16777215");
        if (Port is < 1 or > 65535)
            throw new SubnetConfigException($"{source}: subnets.overlay.port {Port} is outside 1..65535");
        if (EffectiveDevice.Length > 15 || EffectiveDevice.Contains('/', StringComparison.Ordinal))
            throw new SubnetConfigException($"{source}: subnets.overlay.device '{EffectiveDevice}' is not an interface name");
    }
}

/// <summary>One mode's datastore (docs/datastore.md, Configuration): the keys of <see cref="DatastoreOptions"/>.</summary>
public sealed record SubnetDatastoreConfig
{
    /// <summary><c>embedded</c> or <c>etcd</c>.</summary>
    public string Kind { get; set; } = DatastoreOptions.Embedded;

    /// <summary>The mode's cluster pod CIDR, e.g. 10.244.0.0/16.</summary>
    public string ClusterCidr { get; set; } = "";

    /// <summary>Each node's subnet prefix length.</summary>
    public int SubnetLength { get; set; } = 24;

    /// <summary>The lease TTL in seconds.</summary>
    public double TtlSeconds { get; set; } = 120;

    /// <summary>The embedded store's directory (shared by the agents of one machine).</summary>
    public string Directory { get; set; } = "/var/lib/fathom/datastore";

    /// <summary>etcd's client URLs.</summary>
    public IReadOnlyList<string> Endpoints { get; set; } = [];

    /// <summary>etcd keys live under <c>/fathom/CLUSTER/</c>.</summary>
    public string Cluster { get; set; } = "default";

    /// <summary>The bound on one etcd operation, in seconds.</summary>
    public double RequestTimeoutSeconds { get; set; } = 5;

    /// <summary>The library's options for these keys.</summary>
    public DatastoreOptions ToOptions() => new()
    {
        Kind = Kind,
        ClusterCidr = ClusterCidr,
        SubnetLength = SubnetLength,
        Ttl = TimeSpan.FromSeconds(TtlSeconds),
        Directory = Directory,
        EtcdEndpoints = [.. Endpoints.Select(e => new Uri(e))],
        Cluster = Cluster,
        RequestTimeout = TimeSpan.FromSeconds(RequestTimeoutSeconds),
    };

    /// <summary>The store for messages: "embedded store /dir" or "etcd (url, …) cluster c".</summary>
    public string Describe() => Kind == DatastoreOptions.Etcd
        ? $"etcd ({string.Join(", ", Endpoints)}) cluster '{Cluster}'"
        : $"embedded datastore {Directory}";

    internal bool SharesWith(SubnetDatastoreConfig other) =>
        Kind == other.Kind && (Kind == DatastoreOptions.Etcd ? Cluster == other.Cluster : Directory == other.Directory);

    internal void Validate(string source, string at)
    {
        if (Kind is not (DatastoreOptions.Embedded or DatastoreOptions.Etcd))
            throw new SubnetConfigException($"{source}: {at}.kind '{Kind}' is not embedded or etcd");
        try
        {
            Fathom.Datastore.SubnetPool.Parse(ClusterCidr, SubnetLength);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new SubnetConfigException($"{source}: {at}.clusterCidr '{ClusterCidr}' / subnetLength {SubnetLength}: {e.Message}");
        }
        if (!double.IsFinite(TtlSeconds) || TtlSeconds is < 2 or > 86400 * 7)
            throw new SubnetConfigException($"{source}: {at}.ttlSeconds {TtlSeconds} is outside 2..604800");
        if (!double.IsFinite(RequestTimeoutSeconds) || RequestTimeoutSeconds is < 0.1 or > 300)
            throw new SubnetConfigException($"{source}: {at}.requestTimeoutSeconds {RequestTimeoutSeconds} is outside 0.1..300");
        if (Kind == DatastoreOptions.Embedded && !Path.IsPathFullyQualified(Directory))
            throw new SubnetConfigException($"{source}: {at}.directory '{Directory}' must be an absolute path");
        if (Kind == DatastoreOptions.Etcd)
        {
            if (Endpoints.Count == 0)
                throw new SubnetConfigException($"{source}: {at}.endpoints is empty: etcd needs its members' client URLs");
            foreach (var e in Endpoints)
                if (!Uri.TryCreate(e, UriKind.Absolute, out var uri) || uri.Scheme != "http")
                    throw new SubnetConfigException($"{source}: {at}.endpoints entry '{e}' is not an http:// URL (TLS is not supported yet)");
        }
    }
}

/// <summary>A <c>subnets</c> section that cannot be used; the message names the file and the field (the agent reports it as a config error).</summary>
public sealed class SubnetConfigException(string message) : Exception(message);
