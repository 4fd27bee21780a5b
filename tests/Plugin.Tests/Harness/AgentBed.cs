using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Agent.Teardown;
using Fathom.Datapath;
using Fathom.Netlink;

namespace Fathom.Plugin.Tests.Harness;

/// <summary>
/// A stand-in for fathom-agent's pools behind the REAL protocol: <see cref="AgentListener"/> on a
/// socket of the test's own, serving a small <see cref="IAgentService"/> that hands out the
/// <see cref="UnderlayBed"/>'s pre-made veth "ENI" (<see cref="UnderlayBed.Device"/>) or one
/// secondary IP, and on release records the teardown job as the agent does (AllocationService)
/// without running it: the test runs <see cref="KernelTeardown"/> when it chooses.
/// </summary>
internal sealed class FakeAgent : IAgentService
{
    public const string NodeIp = "192.168.77.1";
    public const string SharedAddress = "10.10.0.50/32";
    public const int SharedTable = 101;

    /// <summary>The shared pod's veth as fathom-agent names it (<see cref="NodeVeth.HostNameFor"/>), unless <see cref="SharedVethName"/> says otherwise.</summary>
    public static string SharedVeth(string containerId, string ifName = "eth0") => NodeVeth.HostNameFor(containerId, ifName);

    /// <summary>A name of its own for every shared pod's veth: an agent of another release.</summary>
    public string? SharedVethName { get; set; }

    /// <summary>Every secondary IP held: a shared ask fails with 11.</summary>
    public bool NoIpLeft { get; set; }

    /// <summary>Runs before a new allocation is answered, on the listener's thread: what the agent does meanwhile.</summary>
    public Action<AllocateRequest>? BeforeReply { get; set; }

    private readonly ConcurrentDictionary<(string, string, string), (Allocation Allocation, string? Netns)> _held = new();

    /// <summary>Whole ENIs left; 0 makes an underlay ask fail with 11 (or fall back).</summary>
    public int EnisLeft { get; set; } = 1;

    public ConcurrentQueue<AllocateRequest> Requests { get; } = new();
    public ConcurrentQueue<TeardownJob> Jobs { get; } = new();
    public int Held => _held.Count;

    public ValueTask<AgentReply> AllocateAsync(AllocateRequest request, CancellationToken cancellationToken)
    {
        Requests.Enqueue(request);
        var key = (request.Network, request.ContainerId, request.IfName);
        if (_held.TryGetValue(key, out var existing))
            return Reply(new AllocatedReply { Allocation = existing.Allocation });
        var mode = request.RequestedMode ?? AllocationMode.Underlay;
        if (mode == AllocationMode.Underlay && EnisLeft == 0)
        {
            if (!request.FallbackAllowed)
                return Reply(new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = "no ENI left: instance limit of 1 reached" });
            mode = AllocationMode.Shared;
        }
        if (mode == AllocationMode.Shared && NoIpLeft)
            return Reply(new ErrorReply { Code = AgentErrorCode.TryAgainLater, Message = "no secondary IP left: every ENI's addresses are held" });
        BeforeReply?.Invoke(request);
        Allocation allocation = mode == AllocationMode.Underlay
            ? new UnderlayAllocation
            {
                EniId = "eni-0test", Gateway = UnderlayBed.Gateway, Address = UnderlayBed.PodAddress, Mac = UnderlayBed.DeviceMac,
                HostDevice = UnderlayBed.Device, Mtu = UnderlayBed.DeviceMtu, NodeRoutes = [NodeIp + "/32"],
            }
            : new SharedAllocation
            {
                EniId = "eni-0test", Gateway = UnderlayBed.Gateway, Address = SharedAddress, RouteTable = SharedTable,
                HostVeth = SharedVethName ?? SharedVeth(request.ContainerId, request.IfName),
            };
        if (allocation is UnderlayAllocation) EnisLeft--;
        _held[key] = (allocation, request.NetnsPath);
        return Reply(new AllocatedReply { Allocation = allocation });
    }

    public ValueTask<AgentReply> ReleaseAsync(ReleaseRequest request, CancellationToken cancellationToken)
    {
        if (_held.TryRemove((request.Network, request.ContainerId, request.IfName), out var held))
        {
            // The shape AllocationService records (docs/agent.md, Teardown queue).
            Jobs.Enqueue(held.Allocation switch
            {
                UnderlayAllocation u => new TeardownJob
                {
                    Action = TeardownAction.ReturnEni, Device = u.HostDevice, EniId = u.EniId, Mac = u.Mac,
                    NetnsPath = held.Netns, PodIfName = request.IfName,
                },
                SharedAllocation s => new TeardownJob
                {
                    Action = TeardownAction.DeleteVeth, Device = s.HostVeth, EniId = s.EniId, NetnsPath = held.Netns, PodIfName = request.IfName,
                },
                _ => throw new InvalidOperationException(),
            });
            if (held.Allocation is UnderlayAllocation) EnisLeft++;
        }
        return Reply(new DoneReply());
    }

    public ValueTask<AgentReply> CheckAsync(CheckRequest request, CancellationToken cancellationToken) =>
        Reply(_held.ContainsKey((request.Network, request.ContainerId, request.IfName))
            ? new DoneReply()
            : new ErrorReply { Code = AgentErrorCode.UnknownContainer, Message = $"no allocation for {request.ContainerId}/{request.IfName}" });

    public ValueTask<AgentReply> GcAsync(GcRequest request, CancellationToken cancellationToken) => Reply(new DoneReply());

    public ValueTask<AgentReply> StatusAsync(StatusRequest request, CancellationToken cancellationToken) =>
        Reply(new ErrorReply { Code = AgentErrorCode.Internal, Message = "status is not served by the test agent" });

    private static ValueTask<AgentReply> Reply(AgentReply reply) => ValueTask.FromResult(reply);
}

/// <summary>An <see cref="UnderlayBed"/> with a node address, a <see cref="FakeAgent"/> served on a real socket, and the agent's teardown bound to the bed's host.</summary>
internal sealed class AgentBed : IDisposable
{
    private readonly string _dir;

    public UnderlayBed Bed { get; }
    public FakeAgent Agent { get; } = new();
    public AgentListener Listener { get; }
    public string SocketPath => Path.Combine(_dir, "agent.sock");

    private AgentBed(UnderlayBed bed, string dir)
    {
        Bed = bed;
        _dir = dir;
        Listener = AgentListener.Start(SocketPath, Agent);
    }

    public static AgentBed Create()
    {
        var bed = UnderlayBed.Create();
        var dir = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}agent-{Guid.NewGuid():N}"[..40]);
        try
        {
            Directory.CreateDirectory(dir);
            // The node's own address (on lo: this kernel has no dummy driver), which the pod reaches through its node veth.
            Shell.IpIn(bed.Host.Name, "addr", "add", FakeAgent.NodeIp + "/32", "dev", "lo");
            return new AgentBed(bed, dir);
        }
        catch
        {
            bed.Dispose();
            throw;
        }
    }

    /// <summary>A log file for the plugin (the config's <c>logFile</c>), in the bed's folder.</summary>
    public string LogPath => Path.Combine(_dir, "cni.log");

    public JsonObject Config(string mode = "underlay", string extra = "", string version = "1.1.0") =>
        (JsonObject)JsonNode.Parse($$"""
            {"cniVersion":"{{version}}","name":"agent-net","type":"fathom","mode":"{{mode}}",
             "agentSocket":"{{SocketPath}}","dataDir":"{{Path.Combine(_dir, "data")}}"{{extra}}}
            """)!;

    public CniOutcome Run(string command, JsonObject config, string? args = null, string ifName = "eth0") =>
        CniExec.Run(Bed.Host.Name, CniExec.Fathom, Bed.Call(command, "/usr/lib/cni", ifName) with { Args = args }, config);

    /// <summary>Runs every recorded teardown job as the agent's queue would, in the bed's host.</summary>
    public int RunTeardown()
    {
        using var host = Netns.Open(Bed.Host.Path);
        using var teardown = new KernelTeardown(host);
        var ran = 0;
        while (Agent.Jobs.TryDequeue(out var job))
        {
            teardown.ExecuteAsync(job, CancellationToken.None).GetAwaiter().GetResult();
            ran++;
        }
        return ran;
    }

    public void Dispose()
    {
        Listener.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Bed.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
