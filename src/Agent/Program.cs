using System.Runtime.InteropServices;
using Fathom.Agent.Hosting;
using Fathom.Agent.Pools;
using Fathom.Cloud;
using Fathom.Cloud.Aws;
using Fathom.Cloud.Host;
using Fathom.Agent.Teardown;

namespace Fathom.Agent;

/// <summary>
/// <c>fathom-agent [--config /etc/fathom/agent.json]</c>: the node daemon. Runs until SIGTERM or
/// SIGINT. Exit codes: 0 stopped, 1 could not start (state or socket held by another agent, I/O),
/// 2 bad command line or config.
/// </summary>
internal static class Program
{
    private const string Usage = "usage: fathom-agent [--config PATH]   (default " + AgentConfig.DefaultPath + ")";

    private static async Task<int> Main(string[] args)
    {
        if (LoadConfig(args, out var config) is int exit)
            return exit;

        var log = AgentLog.ToStandardError(config.MinimumLogLevel);
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);

        // The kernel half of DEL: ENIs back to the node, veths and rules gone, in the background.
        using var teardown = KernelTeardown.ForCurrentNetns();
        AgentHost host;
        ICloudProvider? cloud = null;
        HostNicProvider? hostNics = null;
        try
        {
            if (config.Cloud is { } cloudConfig)
            {
                // host: NICs already on the node, no cloud calls, so no rate limits around them either.
                cloud = cloudConfig.Provider == "host"
                    ? hostNics = HostNicsFor(cloudConfig.Host!, config, log)
                    : await CloudForAsync(cloudConfig).ConfigureAwait(false);
                // Shared pods and underlay pods' node veths are routed through the node: it must
                // forward between its ENIs and the pods' veths (aws-node sets the same at start).
                using var node = Fathom.Netlink.Netns.OpenCurrent();
                Fathom.Netlink.Netns.WriteSysctl(node, "net.ipv4.ip_forward", "1");
            }
            host = cloud is null
                ? AgentHost.Start(config, log, teardown.ExecuteAsync)
                : await AgentHost.StartAsync(config, log, teardown.ExecuteAsync, cloud, new KernelNodeDevices()).ConfigureAwait(false);
            if (hostNics is not null)
                WatchHostNics(hostNics, host);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException
            or System.Net.HttpListenerException or System.Net.Sockets.SocketException or CloudException or Fathom.Netlink.NetlinkException)
        {
            log.Error("agent.start-failed", $"fathom-agent could not start: {e.Message}", ("error", e.GetType().Name));
            return 1;
        }

        await stop.Task.ConfigureAwait(false);
        log.Info("agent.stopping", "signal received: stopping");
        await host.DisposeAsync().ConfigureAwait(false);
        (cloud as IDisposable)?.Dispose();
        return 0;

        void Stop(PosixSignalContext context)
        {
            context.Cancel = true;
            stop.TrySetResult();
        }
    }

    /// <summary>The cloud as <c>cloud</c> in agent.json says, behind token buckets and backoff (DESIGN §4).</summary>
    private static async Task<ResilientCloudProvider> CloudForAsync(CloudConfig config)
    {
        var imds = new ImdsClient(config.ImdsEndpoint is { } imdsUrl ? new ImdsClientOptions { Endpoint = new Uri(imdsUrl) } : null);
        // No region configured: the instance's own, from IMDS. The provider and IMDS client live as long as the process.
        var aws = await AwsCloudProvider.CreateAsync(new AwsCloudOptions
        {
            Region = config.Region,
            ServiceUrl = config.ServiceUrl is { } url ? new Uri(url) : null,
            StaticCredentials = config.AccessKeyId is { } key ? new AwsStaticCredentials(key, config.SecretAccessKey!) : null,
        }, imds).ConfigureAwait(false);
        return new ResilientCloudProvider(aws);
    }

    /// <summary>
    /// Ties the host provider to the running agent: a NIC out of the node's sight is a pod's while an
    /// allocation or its pending return holds it (unplugged otherwise), and NICs plugged or unplugged
    /// make the pools reconcile at once — and so does the end of every NIC's return: a NIC unplugged
    /// as soon as it came back, before its return's record was gone, was still held then, and no
    /// later link event would have said so again. The reconcile asked for last also covers a NIC
    /// plugged while the agent was starting, before the watcher listened.
    /// </summary>
    private static void WatchHostNics(HostNicProvider hostNics, AgentHost host)
    {
        var pools = host.Pools ?? throw new InvalidOperationException("the host provider runs with pools");
        hostNics.HeldElsewhere = id => host.Store.IsEniHeldWhole(id)
            || host.Teardown.Pending().Any(j => j.Job.Action == TeardownAction.ReturnEni && j.Job.EniId == id);
        hostNics.NicsChanged += pools.Refiller.RequestReconcile;
        host.Teardown.Done += job =>
        {
            if (job.Action == TeardownAction.ReturnEni) pools.Refiller.RequestReconcile();
        };
        hostNics.StartWatching();
        pools.Refiller.RequestReconcile();
    }

    /// <summary>The <c>host</c> provider as <c>cloud.host</c> says, its state beside the agent's.</summary>
    private static HostNicProvider HostNicsFor(HostNicConfig host, AgentConfig config, AgentLog log) =>
        new(host, new HostNicOptions
        {
            StatePath = Path.Combine(config.StateDir, "host-nics.json"),
            DhcpDirectory = Path.Combine(config.StateDir, "dhcp"),
            NodeName = config.Pools?.EffectiveNodeName ?? Environment.MachineName,
            Log = line => log.Info("host.nics", line),
        });

    /// <summary>
    /// The command line and the config file: null and the config to run with, or the exit code
    /// (0 after --help, 2 for a usage or config error, which systemd's unit does not restart).
    /// </summary>
    private static int? LoadConfig(string[] args, out AgentConfig config)
    {
        config = new AgentConfig();
        string? configPath = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--config" when i + 1 < args.Length:
                    configPath = args[++i];
                    break;
                case "-h" or "--help":
                    Console.Out.WriteLine(Usage);
                    return 0;
                default:
                    Console.Error.WriteLine($"fathom-agent: unexpected argument '{args[i]}'\n{Usage}");
                    return 2;
            }
        }
        try
        {
            // No --config and no file at the default path: run on defaults. A path that was asked for must exist.
            if (configPath is not null || File.Exists(AgentConfig.DefaultPath))
                config = AgentConfig.Load(configPath ?? AgentConfig.DefaultPath);
            return null;
        }
        catch (AgentConfigException e)
        {
            Console.Error.WriteLine($"fathom-agent: {e.Message}");
            return 2;
        }
    }
}
