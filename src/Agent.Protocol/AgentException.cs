namespace Fathom.Agent.Protocol;

/// <summary>
/// The one exception of the protocol: the agent could not be reached, its reply could not be read,
/// or it answered with an error. <see cref="Code"/> is what the plugin reports as the CNI error code.
/// </summary>
public sealed class AgentException : Exception
{
    /// <summary>Creates an exception with a code, a message and optional details.</summary>
    public AgentException(AgentErrorCode code, string message, string? details = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        Details = details;
    }

    /// <summary>The error code: a CNI code below 100, the agent's own from 100.</summary>
    public AgentErrorCode Code { get; }

    /// <summary>More context for an operator (the CNI error's <c>details</c>), or null.</summary>
    public string? Details { get; }

    /// <summary>The exception for an <see cref="ErrorReply"/> the agent sent.</summary>
    public static AgentException From(ErrorReply reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        return new AgentException(reply.Code, reply.Message, reply.Details);
    }

    /// <summary>The reply that reports this exception to a peer.</summary>
    public ErrorReply ToReply() => new() { Code = Code, Message = Message, Details = Details };
}
