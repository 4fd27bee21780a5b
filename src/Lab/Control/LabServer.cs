using System.Net;
using Fathom.Lab.Dhcp;
using Fathom.Lab.Ec2;
using Fathom.Lab.Hosting;
using Fathom.Lab.Imds;
using Fathom.Lab.Topology;
using Fathom.Netlink;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fathom.Lab.Control;

/// <summary>
/// <c>fathomctl lab serve</c>: the one long-lived process of a lab. Builds the VPC in the
/// kernel, then serves, from this single process, the EC2 API inside the VPC netns and on
/// 127.0.0.1 in the root netns, IMDS at 169.254.169.254 in the VPC netns, DHCP (its dnsmasq
/// children) and ENI recovery — until SIGTERM/SIGINT, or SIGKILL (then <c>lab down</c> cleans up).
/// </summary>
public static class LabServer
{
    /// <summary>Runs the server for the lab recorded in lab.json by <c>lab up</c>; returns the exit code.</summary>
    public static async Task<int> RunAsync(LabLayout layout, CancellationToken cancellationToken = default)
    {
        await using var lab = new RunningLab(layout, ClaimStart(layout));
        try
        {
            var options = lab.Current.Options;
            Log($"lab '{layout.Prefix}': building {options.Nodes} × {options.InstanceType}, {options.Subnets} subnet(s)");
            var (cloud, subnets, nodes) = await lab.BuildVpcAsync(cancellationToken);
            await lab.StartServicesAsync(cloud, subnets, nodes, cancellationToken);
            var state = lab.Current;
            Log($"ready: EC2 at {state.LoopbackEndpoint} (host) and {state.VpcEndpoint} (VPC), IMDS at http://{LabLayout.ImdsAddress}");

            await Task.WhenAny(lab.Apps.Select(a => a.WaitForShutdownAsync(cancellationToken)));
            Log("stopping");
            return 0;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log($"failed: {e}");
            lab.SaveFailed(e.Message);
            return 1;
        }
    }

    /// <summary>
    /// What one run of the server holds, built in two steps — the VPC and its nodes, then the
    /// services on top — and released in reverse by <see cref="DisposeAsync"/>, however far the
    /// build got. lab.json has one writer: every change of the state goes through <see cref="Update"/>.
    /// </summary>
    private sealed class RunningLab(LabLayout layout, LabState initial) : IAsyncDisposable
    {
        private readonly Lock _gate = new();
        private readonly CancellationTokenSource _stopWatching = new();
        private readonly DhcpService _dhcp = new(layout);
        private LabState _state = initial;
        private NetnsHandle? _vpc;
        private VpcFabric? _fabric;
        private LabNodes? _nodes;
        private Thread? _watcher;
        private NodeAgentSupervisor? _agents;
        private ContainerdSupervisor? _runtime;

        /// <summary>The endpoints served (EC2, IMDS, control); the server runs until one stops.</summary>
        public List<WebApplication> Apps { get; } = [];

        public LabState Current { get { lock (_gate) return _state; } }

        /// <summary>Changes the state and records it in lab.json, under the one lock.</summary>
        public LabState Update(Func<LabState, LabState> change)
        {
            lock (_gate)
            {
                _state = change(_state);
                LabStateStore.Save(layout, _state);
                return _state;
            }
        }

        /// <summary>Records a failed start (lab.json says why; <c>lab down</c> cleans up).</summary>
        public void SaveFailed(string error)
        {
            lock (_gate) LabStateStore.Save(layout, _state with { Phase = LabPhase.Failed, Error = error, DnsmasqPids = _dhcp.Pids });
        }

        /// <summary>The VPC netns, its fabric, a new cloud, the subnets and every node of the lab.</summary>
        public async Task<(Ec2Cloud Cloud, List<LabSubnet> Subnets, List<LabNode> Nodes)> BuildVpcAsync(CancellationToken cancellationToken)
        {
            var options = Current.Options;
            _vpc = CreateVpcNamespace(layout);
            _fabric = new VpcFabric(_vpc, _dhcp) { Log = Log };
            // Always a new cloud: the kernel objects are built afresh just below, so EC2 state
            // from an earlier server could only disagree with them (and `up` has emptied the
            // state directory anyway). ec2.json is a record for inspection, never read back.
            var cloud = new Ec2Cloud(_fabric, new Ec2CloudOptions { Region = LabLayout.Region, VpcCidr = LabLayout.VpcCidr, StatePath = layout.Ec2StateFile });
            var subnets = CreateSubnets(cloud, _fabric, options.Subnets);
            _nodes = new LabNodes(layout, cloud, _fabric, subnets[0].SubnetId, Log) { Current = () => Current, Update = Update };
            var nodes = new List<LabNode>();
            for (var i = 1; i <= options.Nodes; i++)
                nodes.Add(await _nodes.LaunchAsync(LabLayout.NodeName(i), options.InstanceType, cancellationToken));
            return (cloud, subnets, nodes);
        }

        /// <summary>
        /// EC2 and IMDS endpoints, ENI recovery, the datastore, the agents, the runtime and the
        /// control socket, in that order; then the lab is ready.
        /// </summary>
        public async Task StartServicesAsync(Ec2Cloud cloud, List<LabSubnet> subnets, List<LabNode> nodes, CancellationToken cancellationToken)
        {
            var state = Current;
            var credentials = new Ec2Credentials(state.Credentials.AccessKeyId, state.Credentials.SecretAccessKey);
            var vpcEndpointIp = IPAddress.Parse(subnets[0].Gateway);
            var observer = state.Observer is { } o ? new Ec2Credentials(o.AccessKeyId, o.SecretAccessKey) : null;
            var loopbackPort = await StartEndpointsAsync(_vpc!, vpcEndpointIp, state, cloud, credentials, observer, FaultPlanFor(state.Options),
                _fabric!.AttachedAt, Apps, cancellationToken);
            _watcher = StartRecoveryWatcher(_vpc!, _fabric, Log, _stopWatching.Token);

            state = Update(s => s with
            {
                DnsmasqPids = _dhcp.Pids,
                LoopbackPort = loopbackPort,
                VpcEndpoint = $"http://{vpcEndpointIp}",
                VpcNetns = layout.VpcNetns,
                VpcId = cloud.VpcId,
                Subnets = subnets,
                Nodes = nodes,
            });
            // The leases' etcd (issue 10) before the agents, its members on the VPC router's address.
            if (state.Options.Datastore == "etcd")
                state = Update(s => s with { Etcd = Datastore.LabEtcd.Start(layout, layout.VpcNetns, subnets[0].Gateway, Log) });
            if (state.Options.Agents)
                _agents = await StartAgentsAsync(layout, state, running => Update(s => s with { Agents = running }), cancellationToken);
            if (state.Options.Runtime == LabContainerd.Runtime)
                _runtime = ContainerdSupervisor.Start(layout, Current, CniPods.ResolvePlugin(), Log);
            (_nodes!.Agents, _nodes.Runtime) = (_agents, _runtime);
            Apps.Add(await StartControlAsync(layout, _nodes, cancellationToken));
            Update(s => s with { Phase = LabPhase.Ready });
        }

        public async ValueTask DisposeAsync()
        {
            // The runtime first (its sandboxes stopped and removed through the CRI while the agents
            // still answer their DELs), then the agents: they are the cloud's clients, and must not
            // be restarted while the lab goes.
            if (_runtime is not null) await _runtime.DisposeAsync();
            if (_agents is not null) await _agents.DisposeAsync();
            _stopWatching.Cancel();
            _watcher?.Join(TimeSpan.FromSeconds(2));
            await StopEndpointsAsync(Apps);
            _fabric?.Dispose();
            _vpc?.Dispose();
            _dhcp.Dispose();
            _stopWatching.Dispose();
        }
    }

    /// <summary>
    /// Each node's daemon, as systemd would run it on an instance; this process restarts an agent
    /// that dies and reports its new pid through <paramref name="recordRunning"/> (lab.json has one
    /// writer: this server).
    /// </summary>
    private static async Task<NodeAgentSupervisor> StartAgentsAsync(LabLayout layout, LabState state,
        Action<IReadOnlyList<LabAgent>> recordRunning, CancellationToken cancellationToken)
    {
        var agents = new NodeAgentSupervisor(layout, AgentCommand.Resolve(), Log, recordRunning);
        await agents.StartAsync(state, AgentStartTimeout, cancellationToken);
        return agents;
    }

    private static async Task StopEndpointsAsync(List<WebApplication> apps)
    {
        foreach (var app in apps)
        {
            try { await app.StopAsync(CancellationToken.None); } catch (ObjectDisposedException) { }
            await app.DisposeAsync();
        }
    }

    /// <summary>How long the server waits for every node's agent to listen before it gives up on the lab.</summary>
    private static readonly TimeSpan AgentStartTimeout = TimeSpan.FromSeconds(30);

    private static void Log(string message) => Console.Out.WriteLine($"{DateTimeOffset.UtcNow:O} {message}");

    /// <summary>Loads lab.json and records this process as its server, when this start is the one <c>lab up</c> asked for.</summary>
    private static LabState ClaimStart(LabLayout layout)
    {
        var state = LabStateStore.TryLoad(layout)
            ?? throw new InvalidOperationException($"no {layout.StateFile}: start the lab with 'fathomctl lab up'");
        // A server builds a lab from nothing and resumes nothing: only the one `lab up` has just
        // started (phase Starting, in a fresh state directory) may run. Anything else — a second
        // `lab serve` beside a live lab, or a restart after a crash — would fail on the existing
        // namespaces and then overwrite the live lab's lab.json with "failed"; `lab up` rebuilds
        // a half-up lab instead (docs/lab.md, State).
        if (state.Phase != LabPhase.Starting ||
            (state.ServerPid > 0 && state.ServerPid != Environment.ProcessId && Signal.IsAlive(state.ServerPid)))
            throw new InvalidOperationException(
                $"lab '{layout.Prefix}' is {state.Phase.ToString().ToLowerInvariant()}{(state.ServerPid > 0 ? $" (server pid {state.ServerPid})" : "")}: " +
                "a server only starts through 'fathomctl lab up', which rebuilds a lab that is not up");
        state = state with { ServerPid = Environment.ProcessId };
        LabStateStore.Save(layout, state);
        return state;
    }

    /// <summary>
    /// Serves the EC2 API at <paramref name="vpcEndpointIp"/>:80 in the VPC and on 127.0.0.1 in the
    /// root netns, and IMDS at 169.254.169.254:80 in the VPC; the apps go into <paramref name="apps"/>
    /// (the caller stops them). Returns the loopback port.
    /// </summary>
    private static async Task<int> StartEndpointsAsync(NetnsHandle vpc, IPAddress vpcEndpointIp, LabState state, Ec2Cloud cloud,
        Ec2Credentials credentials, Ec2Credentials? observer, FaultPlan faults, Func<string, DateTimeOffset?> attachedAt, List<WebApplication> apps,
        CancellationToken cancellationToken)
    {
        var (vpcEc2Fd, _) = NetnsListener.Bind(vpc, new IPEndPoint(vpcEndpointIp, 80));
        var (loopbackFd, loopbackPort) = NetnsListener.Bind(null, new IPEndPoint(IPAddress.Loopback, state.LoopbackPort));
        var (imdsFd, _) = NetnsListener.Bind(vpc, new IPEndPoint(LabLayout.ImdsAddress, 80));

        var ec2App = CreateApp([vpcEc2Fd, loopbackFd]);
        Ec2Endpoint.Map(ec2App, cloud, credentials, faults, observer);
        apps.Add(ec2App);
        var imds = new InstanceMetadataService(cloud, attachedAt) { EniVisibilityDelay = TimeSpan.FromMilliseconds(state.Options.ImdsDelayMs) };
        var imdsApp = CreateApp([imdsFd]);
        ImdsEndpoint.Map(imdsApp, imds);
        apps.Add(imdsApp);
        foreach (var app in apps) await app.StartAsync(cancellationToken);
        return loopbackPort;
    }

    /// <summary>Subnet k is <see cref="LabLayout.SubnetCidr"/>(k), in the cloud and as bridge br-s(k+1).</summary>
    private static List<LabSubnet> CreateSubnets(Ec2Cloud cloud, VpcFabric fabric, int count)
    {
        var subnets = new List<LabSubnet>();
        for (var k = 0; k < count; k++)
        {
            var cidr = LabLayout.SubnetCidr(k);
            var subnet = cloud.CreateSubnet(cidr.ToString(), LabLayout.AvailabilityZone);
            fabric.AddSubnet(subnet, k);
            subnets.Add(new LabSubnet(subnet.SubnetId, cidr.ToString(), subnet.Gateway.ToString(), LabLayout.BridgeName(k), subnet.AvailabilityZone));
        }
        return subnets;
    }

    /// <summary>
    /// The control socket (<see cref="LabControlSocket"/>): <c>lab node add/rm</c> reach the server there.
    /// Started last, once the lab is whole, and stopped with the other endpoints.
    /// </summary>
    private static async Task<WebApplication> StartControlAsync(LabLayout layout, LabNodes lab, CancellationToken cancellationToken)
    {
        var path = LabControlSocket.PathOf(layout);
        File.Delete(path);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(path));
        var app = builder.Build();
        LabControlSocket.Map(app, lab);
        await app.StartAsync(cancellationToken);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return app;
    }

    /// <summary>The VPC netns: loopback with IMDS's address, and forwarding on (it is the router between subnets).</summary>
    private static NetnsHandle CreateVpcNamespace(LabLayout layout)
    {
        var vpc = Netns.Create(layout.VpcNetns);
        using var links = NetlinkHandle.OpenIn(vpc);
        var lo = links.GetLink("lo");
        links.SetLinkUp(lo.Index);
        links.AddAddress(lo.Index, IpPrefix.Host(LabLayout.ImdsAddress));
        Netns.WriteSysctl(vpc, "net.ipv4.ip_forward", "1");
        return vpc;
    }

    private static WebApplication CreateApp(IReadOnlyList<ulong> listenFds)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var fd in listenFds) kestrel.ListenHandle(fd);
        });
        return builder.Build();
    }

    private static FaultPlan FaultPlanFor(LabOptions options) =>
        options.Faults is { } spec ? FaultPlan.Parse(spec) : new FaultPlan();

    /// <summary>
    /// Watches RTNLGRP_LINK in the VPC netns: a bridge port deleted behind the API's back (its
    /// pod netns was destroyed) is plugged back into its instance. A dedicated thread, because
    /// the watcher blocks in recv.
    /// </summary>
    private static Thread StartRecoveryWatcher(NetnsHandle vpc, VpcFabric fabric, Action<string> log, CancellationToken stop)
    {
        var events = LinkWatcher.Open(vpc);
        var thread = new Thread(() =>
        {
            using (events)
            {
                var sweep = TimeSpan.FromSeconds(2);
                var lastSweep = Environment.TickCount64;
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        if (Environment.TickCount64 - lastSweep > sweep.TotalMilliseconds)
                        {
                            lastSweep = Environment.TickCount64;
                            foreach (var lost in fabric.RecoverAllLost())
                                log($"recovered {lost} (sweep): its link vanished without a detach; plugged back into its instance");
                        }
                        if (!events.TryRead(TimeSpan.FromMilliseconds(250), out var e) || e.Kind != LinkEventKind.Deleted) continue;
                        if (fabric.RecoverIfLost(e.Link.Name) is { } eni)
                            log($"recovered {eni}: its link vanished without a detach; plugged back into its instance");
                    }
                    catch (Exception ex) when (ex is NetlinkException or InvalidOperationException)
                    {
                        log($"recovery: {ex.Message}");
                    }
                }
            }
        })
        { IsBackground = true, Name = "eni-recovery" };
        thread.Start();
        return thread;
    }
}
