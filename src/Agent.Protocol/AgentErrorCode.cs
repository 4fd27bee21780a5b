namespace Fathom.Agent.Protocol;

/// <summary>
/// Error codes of <see cref="ErrorReply"/> and <see cref="AgentException"/>. Below 100 they are
/// CNI codes (CNI spec 1.1 §Error) so the plugin passes them through unchanged; 100 and above are
/// the agent's own ("plugin-specific" in the spec's terms).
/// </summary>
public enum AgentErrorCode
{
    /// <summary>CNI 3: the agent holds no allocation for this container and ifname.</summary>
    UnknownContainer = 3,

    /// <summary>CNI 4: the container id or interface name is missing or not valid.</summary>
    InvalidEnvironment = 4,

    /// <summary>CNI 5: the agent could not read or write its state.</summary>
    IoFailure = 5,

    /// <summary>CNI 7: the request names a network, mode or field the agent cannot serve.</summary>
    InvalidConfig = 7,

    /// <summary>CNI 11: try again later. The message always says why (agent not running, pool empty, limit reached, throttled).</summary>
    TryAgainLater = 11,

    /// <summary>The two sides speak different protocol versions.</summary>
    ProtocolVersionMismatch = 100,

    /// <summary>A frame or message could not be read: truncated, oversized, not JSON, or not a known message.</summary>
    MalformedMessage = 101,

    /// <summary>The caller is not allowed to talk to the agent (peer credentials).</summary>
    PermissionDenied = 102,

    /// <summary>The agent failed while serving the request; its log has the details.</summary>
    Internal = 103,
}
