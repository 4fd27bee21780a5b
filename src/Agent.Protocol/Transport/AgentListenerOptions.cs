namespace Fathom.Agent.Protocol;

/// <summary>How <see cref="AgentListener"/> serves.</summary>
public sealed record AgentListenerOptions
{
    /// <summary>The only uid allowed to talk to the agent (DESIGN §4: root only). Injectable for tests.</summary>
    public uint AllowedUid { get; init; }

    /// <summary>
    /// How long a client has to send one whole request frame (also the idle bound between requests
    /// of one connection, and the bound on writing the reply): a stuck client cannot hold a slot.
    /// </summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest request accepted.</summary>
    public int MaxFrameBytes { get; init; } = AgentProtocol.MaxFrameBytes;

    /// <summary>Connections served at once; more wait in the kernel's backlog.</summary>
    public int MaxConnections { get; init; } = 128;

    /// <summary>How long <see cref="AgentListener.DisposeAsync"/> lets requests in progress finish.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the listener says what it did and why it refused something (one line per event); null for nowhere.</summary>
    public Action<string>? Log { get; init; }
}
