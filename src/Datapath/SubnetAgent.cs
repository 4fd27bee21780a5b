using Fathom.Agent.Protocol;
using Fathom.Cni;

namespace Fathom.Datapath;

/// <summary>
/// The plugin's calls to <c>fathom-agent</c> for a subnet mode (host-gw, overlay), for
/// <see cref="SubnetModeDatapath"/>. (The shared mode's agent code is about ENIs: its own, in Datapath.Shared.)
/// </summary>
internal static class SubnetAgent
{
    public static AllocateRequest AllocateRequest(string network, CniRequest request, AllocationMode mode) => new()
    {
        Network = network,
        ContainerId = request.ContainerId,
        IfName = request.IfName,
        NetnsPath = request.NetnsPath,
        RequestedMode = mode,
        Pod = request.Args is { K8sPodNamespace: { Length: > 0 } ns, K8sPodName: { Length: > 0 } name }
            ? new PodIdentity { Namespace = ns, Name = name, Uid = request.Args.K8sPodUid }
            : null,
    };

    /// <summary>
    /// One call; its failure becomes the CNI error: codes below 100 pass through (11 with the agent's
    /// reason, e.g. the datastore it cannot reach), the agent's 100–103 become 110–113 (docs/cni.md).
    /// Its success is a <paramref name="step"/> of the operator log's timing (<see cref="CniSteps"/>).
    /// </summary>
    public static T Call<T>(string step, Func<T> call)
    {
        try
        {
            var done = call();
            CniSteps.Mark(step);
            return done;
        }
        catch (AgentException e)
        {
            var code = (int)e.Code is >= 100 and <= 103 ? (CniErrorCode)((int)e.Code + 10) : (CniErrorCode)(int)e.Code;
            throw new CniException(code, e.Message, e.Details, e);
        }
    }

    public static void Call(string step, Action call) => Call(step, () =>
    {
        call();
        return 0;
    });

    /// <summary>Releases after a failed ADD; a sentence for the error message, never throws.</summary>
    public static string Release(AgentClient client, string network, CniRequest request)
    {
        try
        {
            client.Release(new ReleaseRequest { Network = network, ContainerId = request.ContainerId, IfName = request.IfName });
            return "the address is released";
        }
        catch (AgentException e)
        {
            return $"releasing the address failed too ({e.Message}): the runtime's DEL releases it";
        }
    }

    public static void Gc(AgentClient client, string network, IReadOnlySet<(string ContainerId, string IfName)> valid)
    {
        ArgumentNullException.ThrowIfNull(valid);
        Call("garbage-collect with fathom-agent", () => client.Gc(new GcRequest
        {
            Network = network,
            ValidAttachments = [.. valid.Select(a => new AttachmentRef { ContainerId = a.ContainerId, IfName = a.IfName })],
        }));
    }

    public static CniStatus Status(AgentClient client)
    {
        try
        {
            client.Status();
            return CniStatus.Available;
        }
        catch (AgentException e)
        {
            return new CniStatus(CniErrorCode.NotAvailable, e.Message);
        }
    }
}
