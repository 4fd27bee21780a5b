namespace Fathom.Agent.Protocol;

/// <summary>Constants of the plugin ↔ agent protocol (docs/agent.md).</summary>
public static class AgentProtocol
{
    /// <summary>
    /// The protocol version this build speaks. Every request and reply carries it; a peer that
    /// speaks another version is refused with <see cref="AgentErrorCode.ProtocolVersionMismatch"/>
    /// and a message naming both versions, never half-understood.
    /// </summary>
    public const int Version = 1;

    /// <summary>Where the agent listens unless configured otherwise.</summary>
    public const string DefaultSocketPath = "/run/fathom/agent.sock";

    /// <summary>
    /// The largest frame either side accepts (payload bytes, without the 4-byte length). A status
    /// reply with 700 allocations is about 250 KiB; 4 MiB leaves room and still bounds what a
    /// broken peer can make the other allocate.
    /// </summary>
    public const int MaxFrameBytes = 4 * 1024 * 1024;

    /// <summary>How long the plugin waits for the agent, connect to reply, unless told otherwise.</summary>
    public static readonly TimeSpan DefaultClientTimeout = TimeSpan.FromSeconds(30);
}
