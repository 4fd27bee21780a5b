using Fathom.Agent.Protocol;
using Fathom.Cni;

namespace Fathom.Datapath.Shared;

/// <summary>
/// The section of a network config that the agent-backed modes read (docs/cni.md): where the
/// agent listens (<c>agentSocket</c>), which modes a pod of this network may ask for (<c>modes</c>;
/// the network's own mode when absent), and which mode the agent may give instead when the asked
/// one has nothing free (<c>fallback</c>). A malformed field is error 7 naming it.
/// </summary>
public sealed record AgentNetworkConfig
{
    /// <summary>The network's <c>name</c>: the agent keys allocations by it.</summary>
    public required string Network { get; init; }

    /// <summary>The agent's socket.</summary>
    public string AgentSocket { get; init; } = AgentProtocol.DefaultSocketPath;

    /// <summary>The network's own mode: what a pod that asks nothing gets.</summary>
    public required AllocationMode Mode { get; init; }

    /// <summary>The modes a pod may ask for (always holds <see cref="Mode"/>).</summary>
    public required IReadOnlyList<AllocationMode> Modes { get; init; }

    /// <summary>The mode the agent may give when the asked one has nothing free; null: none.</summary>
    public AllocationMode? Fallback { get; init; }

    /// <summary>Reads the keys of <paramref name="config"/> for a network of mode <paramref name="mode"/>.</summary>
    public static AgentNetworkConfig Parse(NetworkConfig config, AllocationMode mode)
    {
        ArgumentNullException.ThrowIfNull(config);
        var socket = config.OptionalString("agentSocket");
        if (socket is not null && (!Path.IsPathRooted(socket) || socket.Contains('\0', StringComparison.Ordinal)))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"agentSocket\" is \"{socket}\": it must be an absolute path");
        var modes = config.OptionalStringArray("modes") is { } names
            ? names.Select(n => ParseMode(n, "modes")).Distinct().ToList()
            : [mode];
        if (!modes.Contains(mode))
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"field \"modes\" does not hold the network's own mode \"{Name(mode)}\"");
        var fallback = config.OptionalString("fallback") is { Length: > 0 } f ? ParseMode(f, "fallback") : (AllocationMode?)null;
        return new AgentNetworkConfig
        {
            Network = config.Name,
            AgentSocket = string.IsNullOrEmpty(socket) ? AgentProtocol.DefaultSocketPath : socket,
            Mode = mode,
            Modes = modes,
            Fallback = fallback,
        };
    }

    /// <summary>
    /// The mode the pod of <paramref name="request"/> asks for: CNI_ARGS <c>FATHOM_MODE</c>, else
    /// <c>runtimeConfig.fathomMode</c>, else the network's. One the network does not allow is error 7.
    /// </summary>
    public AllocationMode RequestedBy(CniRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var (asked, source) = request.Args.FathomMode is { Length: > 0 } a ? (a, "CNI_ARGS FATHOM_MODE")
            : request.Config.RuntimeConfig?["fathomMode"] is { } node ? (RuntimeConfigString(node), "runtimeConfig.fathomMode")
            : (null, null);
        if (asked is null) return Mode;
        var wanted = ParseMode(asked, source!);
        if (!Modes.Contains(wanted))
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"{source} asks for mode \"{asked}\", which network \"{Network}\" does not allow",
                $"its \"modes\" are [{string.Join(", ", Modes.Select(Name))}]");
        return wanted;
    }

    /// <summary>The name of <paramref name="mode"/> in configs and CNI_ARGS.</summary>
    public static string Name(AllocationMode mode) => mode == AllocationMode.Shared ? "shared" : "underlay";

    private static string RuntimeConfigString(System.Text.Json.Nodes.JsonNode node) =>
        node is System.Text.Json.Nodes.JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String
            ? v.ToString()
            : throw new CniException(CniErrorCode.InvalidNetworkConfig, "field \"runtimeConfig.fathomMode\" must be a string");

    private static AllocationMode ParseMode(string name, string field) => name switch
    {
        "underlay" => AllocationMode.Underlay,
        "shared" => AllocationMode.Shared,
        _ => throw new CniException(CniErrorCode.InvalidNetworkConfig,
            (field.Contains(' ', StringComparison.Ordinal) || field.Contains('.', StringComparison.Ordinal) ? field : "field \"" + field + "\"")
                + $" names mode \"{name}\", which fathom-agent does not serve",
            "the agent-backed modes are underlay and shared"),
    };
}
