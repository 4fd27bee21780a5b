namespace Fathom.Agent.Protocol.Tests;

/// <summary>An agent that answers from fixed data and records what it was asked.</summary>
internal sealed class FakeAgentService : IAgentService
{
    public static readonly SharedAllocation Shared = new()
    {
        EniId = "eni-0123456789abcdef0", Gateway = "10.0.1.1", Address = "10.0.1.9/32", RouteTable = 101, HostVeth = "fth1a2b3c4d5e",
    };

    public static readonly UnderlayAllocation Underlay = new()
    {
        EniId = "eni-0fedcba9876543210", Gateway = "10.0.2.1", Address = "10.0.2.7/24", Mac = "0a:1b:2c:3d:4e:5f", HostDevice = "eth2", Mtu = 9001,
    };

    public List<AgentRequest> Requests { get; } = [];

    public Func<AgentRequest, CancellationToken, Task>? Before { get; set; }

    private async ValueTask<AgentReply> Answer(AgentRequest request, CancellationToken cancellationToken, Func<AgentReply> reply)
    {
        lock (Requests)
            Requests.Add(request);
        if (Before is { } before)
            await before(request, cancellationToken);
        return reply();
    }

    public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken) =>
        Answer(request, cancellationToken, () => request.ContainerId switch
        {
            "boom" => throw new InvalidOperationException("kaboom"),
            "empty" => throw new AgentException(AgentErrorCode.TryAgainLater, "no free IP: subnet subnet-1 is full"),
            _ => new AllocatedReply { Allocation = request.RequestedMode == AllocationMode.Underlay ? Underlay : Shared },
        });

    public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken) =>
        Answer(request, cancellationToken, () => new DoneReply());

    public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken) =>
        Answer(request, cancellationToken, () => request.ContainerId == "known"
            ? new DoneReply()
            : new ErrorReply { Code = AgentErrorCode.UnknownContainer, Message = $"no allocation for {request.ContainerId}/{request.IfName}" });

    public ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken) =>
        Answer(request, cancellationToken, () => new DoneReply { Released = [new AttachmentRef { ContainerId = "gone", IfName = "eth0" }] });

    public ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken) =>
        Answer(request, cancellationToken, () => new StatusReply
        {
            Status = new AgentStatus
            {
                AgentVersion = "test",
                Time = DateTimeOffset.UnixEpoch,
                Pools = [new PoolStatus { Mode = AllocationMode.Shared, Available = 3, InUse = 1 }],
                Allocations =
                [
                    new AllocationStatus
                    {
                        Network = "net", ContainerId = "c1", IfName = "eth0", Allocation = Shared, State = "committed",
                        Since = DateTimeOffset.UnixEpoch,
                    },
                ],
            },
        });
}
