namespace Fathom.Cni;

/// <summary>
/// One invocation of the plugin, validated: the command, the CNI_* environment and the
/// network config (CNI spec 1.1 §"Parameters"). Fields a command does not need are empty
/// (GC and STATUS have no container; DEL may have no netns).
/// </summary>
public sealed class CniRequest
{
    /// <summary>CNI_COMMAND.</summary>
    public required CniCommand Command { get; init; }

    /// <summary>CNI_CONTAINERID (empty for GC and STATUS).</summary>
    public string ContainerId { get; init; } = "";

    /// <summary>CNI_NETNS: the pod's netns path; null on a DEL without one, and for GC and STATUS.</summary>
    public string? NetnsPath { get; init; }

    /// <summary>CNI_IFNAME: the interface name inside the pod (empty for GC and STATUS).</summary>
    public string IfName { get; init; } = "";

    /// <summary>CNI_ARGS, parsed.</summary>
    public CniArgs Args { get; init; } = CniArgs.Empty;

    /// <summary>CNI_PATH split on ':' (directories to find delegated plugins in).</summary>
    public string[] CniPath { get; init; } = [];

    /// <summary>The datapath mode serving this request: the config's <c>mode</c>, else the plugin's default.</summary>
    public string Mode { get; init; } = "";

    /// <summary>The network config from stdin.</summary>
    public required NetworkConfig Config { get; init; }
}
