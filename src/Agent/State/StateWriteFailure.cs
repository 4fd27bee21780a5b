using Fathom.Agent.Protocol;

namespace Fathom.Agent.State;

/// <summary>
/// The answer when the agent cannot write its state (a full or failing disk, a read-only mount):
/// the plugin hears code 5 (I/O failure) naming what was being done and why, and the log says the
/// same (event <c>state.write-failed</c>). Whatever the write was for did not happen, so the
/// runtime's retry succeeds once the disk can be written again.
/// </summary>
internal static class StateWriteFailure
{
    /// <summary>Logs the failure of <paramref name="doing"/> (its <paramref name="mode"/>, when one) and returns the reply.</summary>
    public static ErrorReply Reply(AgentLog log, string doing, IOException e, string? mode = null)
    {
        var message = $"{doing} failed: cannot write the agent's state: {e.Message}";
        if (mode is null) log.Error("state.write-failed", message, ("error", e.Message));
        else log.Error("state.write-failed", message, ("mode", mode), ("error", e.Message));
        return new ErrorReply { Code = AgentErrorCode.IoFailure, Message = $"fathom-agent cannot write its state while {doing}: {e.Message}" };
    }
}
