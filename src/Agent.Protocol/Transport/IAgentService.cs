namespace Fathom.Agent.Protocol;

/// <summary>
/// What the agent implements and <see cref="AgentListener"/> dispatches to, one method per request.
/// A method returns the reply, an <see cref="ErrorReply"/> for an expected failure, or throws
/// <see cref="AgentException"/> (sent as its code and message); any other exception is logged and
/// sent as <see cref="AgentErrorCode.Internal"/>.
/// </summary>
public interface IAgentService
{
    /// <summary>ADD: an <see cref="AllocatedReply"/>, or an error (code 11 with the reason when nothing is free).</summary>
    ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken);

    /// <summary>DEL: a <see cref="DoneReply"/> once the allocation is released, also when there was none.</summary>
    ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken);

    /// <summary>CHECK: a <see cref="DoneReply"/> when the allocation exists, else code 3.</summary>
    ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken);

    /// <summary>GC: a <see cref="DoneReply"/> listing what was released.</summary>
    ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken);

    /// <summary>Status: a <see cref="StatusReply"/>.</summary>
    ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken);
}
