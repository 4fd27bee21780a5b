using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary><c>fathomctl lab up|down|status|env|attach|pod|serve</c>: the emulated VPC (docs/lab.md).</summary>
internal static class LabCommands
{
    public static Task<int> RunAsync(string[] args) => args.FirstOrDefault() switch
    {
        "up" => UpAsync(new CommandArgs(args[1..])),
        "down" => Task.FromResult(Down(new CommandArgs(args[1..]))),
        "status" => Task.FromResult(Status(new CommandArgs(args[1..]))),
        "env" => Task.FromResult(Env(new CommandArgs(args[1..]))),
        "attach" => AttachAsync(new CommandArgs(args[1..])),
        "pod" => Task.FromResult(LabPodCommands.Run(args[1..])),
        "serve" => ServeAsync(new CommandArgs(args[1..])),
        _ => throw new UsageException("expected up, down, status, env, attach or pod"),
    };

    private static Task<int> UpAsync(CommandArgs args)
    {
        var options = new LabOptions
        {
            Nodes = args.Int("--nodes", 2),
            InstanceType = args.Value("--instance-type") ?? "t3.medium",
            Subnets = args.Int("--subnets", 1),
            AttachLatencyMs = args.Int("--attach-latency", 0),
            ThrottleRate = args.Double("--throttle-rate", 0),
            ErrorRate = args.Double("--error-rate", 0),
            ImdsDelayMs = args.Int("--imds-delay", 0),
            Faults = args.Value("--faults"),
        };
        args.EnsureConsumed();
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var layout = LabLayout.FromEnvironment();
        var (outcome, state) = LabControl.Up(layout, options, ServerCommandOfThisProcess(), Console.Error.WriteLine);
        Console.WriteLine(outcome switch
        {
            UpOutcome.AlreadyUp => $"lab '{layout.Prefix}' is already up",
            UpOutcome.Repaired => $"lab '{layout.Prefix}' was half up: rebuilt",
            _ => $"lab '{layout.Prefix}' is up",
        });
        if (outcome == UpOutcome.AlreadyUp && state.Options != options)
            Console.Error.WriteLine($"note: it runs with other options ({Describe(state.Options)}); 'fathomctl lab down' first to change them");
        PrintStatus(LabStatus.Read(layout));
        return Task.FromResult(0);
    }

    private static int Down(CommandArgs args)
    {
        args.EnsureConsumed();
        var layout = LabLayout.FromEnvironment();
        var removed = LabControl.Down(layout);
        Console.WriteLine(removed.Count == 0 ? $"lab '{layout.Prefix}' was not up" : $"lab '{layout.Prefix}' is down ({removed.Count} objects removed)");
        return 0;
    }

    private static int Status(CommandArgs args)
    {
        var json = args.Flag("--json");
        args.EnsureConsumed();
        var status = LabStatus.Read(LabLayout.FromEnvironment());
        if (json) Console.WriteLine(status.ToJson());
        else PrintStatus(status);
        return status.State == "up" ? 0 : 3;
    }

    /// <summary>
    /// Shell exports for tools on the host; with --in-vpc the endpoint is the one processes
    /// inside an instance reach (an agent in a node netns), since 127.0.0.1 there is the node's own.
    /// </summary>
    private static int Env(CommandArgs args)
    {
        var inVpc = args.Flag("--in-vpc");
        args.EnsureConsumed();
        var layout = LabLayout.FromEnvironment();
        var state = RequireUp(layout);
        Console.WriteLine($"export AWS_ACCESS_KEY_ID={state.Credentials.AccessKeyId}");
        Console.WriteLine($"export AWS_SECRET_ACCESS_KEY={state.Credentials.SecretAccessKey}");
        Console.WriteLine($"export AWS_DEFAULT_REGION={state.Credentials.Region}");
        Console.WriteLine($"export FATHOM_EC2_ENDPOINT={(inVpc ? state.VpcEndpoint : state.LoopbackEndpoint)}");
        Console.WriteLine($"export {LabLayout.PrefixVariable}={layout.Prefix}");
        return 0;
    }

    private static async Task<int> AttachAsync(CommandArgs args)
    {
        var node = args.Value("--node") ?? throw new UsageException("--node is required");
        var subnet = args.Value("--subnet-id");
        var secondary = args.Int("--secondary-ips", 0);
        args.EnsureConsumed();
        var state = RequireUp(LabLayout.FromEnvironment());
        var (eni, mac, ip, index) = await LabEc2Client.AttachNewEniAsync(state, node, subnet, secondary);
        Console.WriteLine($"{eni} {mac} {ip} attached to {node} as {LabLayout.DeviceName(index)}");
        return 0;
    }

    private static async Task<int> ServeAsync(CommandArgs args)
    {
        var prefix = args.Value("--prefix") ?? throw new UsageException("--prefix is required");
        args.EnsureConsumed();
        return await LabServer.RunAsync(new LabLayout(prefix));
    }

    internal static LabState RequireUp(LabLayout layout)
    {
        var state = LabStateStore.TryLoad(layout);
        if (state is null || !LabControl.IsHealthy(layout, state))
            throw new InvalidOperationException($"lab '{layout.Prefix}' is not up (fathomctl lab up --nodes 2 --instance-type t3.medium)");
        return state;
    }

    /// <summary>How to run "fathomctl lab serve" again: this executable, or dotnet + fathomctl.dll.</summary>
    private static ServerCommand ServerCommandOfThisProcess()
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path");
        return Path.GetFileNameWithoutExtension(exe) == "dotnet"
            ? new ServerCommand(exe, [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll")])
            : new ServerCommand(exe, []);
    }

    private static string Describe(LabOptions o) =>
        $"{o.Nodes} × {o.InstanceType}, {o.Subnets} subnet(s), attach latency {o.AttachLatencyMs} ms, throttle {o.ThrottleRate}, errors {o.ErrorRate}, " +
        $"IMDS delay {o.ImdsDelayMs} ms{(o.Faults is null ? "" : ", faults " + o.Faults)}";

    private static void PrintStatus(LabStatus s)
    {
        Console.WriteLine($"lab {s.Prefix}: {s.State}{(s.Error is null ? "" : " — " + s.Error)}");
        if (s.Vpc is null) return;
        Console.WriteLine($"  vpc     {s.Vpc.VpcId} {s.Vpc.Cidr} netns {s.Vpc.Netns}");
        Console.WriteLine($"  ec2     {s.Ec2Endpoint} (host)  {s.Vpc.Ec2Endpoint} (VPC)   imds {s.Vpc.ImdsEndpoint}");
        foreach (var subnet in s.Subnets)
            Console.WriteLine($"  subnet  {subnet.SubnetId} {subnet.Cidr,-14} gw {subnet.Gateway,-10} {subnet.AvailabilityZone} bridge {subnet.Bridge}");
        foreach (var node in s.Nodes)
            Console.WriteLine($"  node    {node.Name,-6} {node.InstanceId} {node.InstanceType,-11} {node.PrimaryIp,-12} netns {node.Netns}");
        foreach (var pod in s.Pods)
            Console.WriteLine($"  pod     {pod.Name,-10} {pod.Mode,-9} node {pod.Node,-6} {string.Join(',', pod.Ips),-14} netns {pod.Netns}");
    }
}
