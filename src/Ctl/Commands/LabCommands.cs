using System.CommandLine;
using System.CommandLine.Completions;
using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary><c>fathomctl lab up|down|status|env|attach|pod|sandbox|node|serve</c>: the emulated VPC (docs/lab.md).</summary>
internal static class LabCommands
{
    internal static readonly Option<bool> Json = new("--json") { Description = "Print the status as JSON (every field of docs/lab.md's status table)." };

    internal static readonly Option<bool> InVpc = new("--in-vpc") { Description = "Export the EC2 endpoint as processes inside an instance reach it, not the host's 127.0.0.1." };

    internal static readonly Option<string> AttachNode = new("--node")
    {
        Description = "The instance (node1, node2, ...) to attach the new ENI to.",
        HelpName = "NODE",
        Required = true,
        CompletionSources = { NodeNames },
    };

    internal static readonly Option<string> SubnetId = new("--subnet-id")
    {
        Description = "The subnet of the new ENI (default: the node's primary ENI's).",
        HelpName = "ID",
    };

    internal static readonly Option<int> SecondaryIps = NumberOptions.Integer("--secondary-ips", "How many secondary private IPs the new ENI gets.", 0);

    internal static readonly Option<string> Prefix = new("--prefix")
    {
        Description = "The lab's prefix.",
        HelpName = "P",
        Required = true,
    };

    public static Command Create() => new("lab", "The emulated VPC: an EC2 VPC in network namespaces on this machine (docs/lab.md). Which lab: $FATHOM_LAB_PREFIX (default flab).")
    {
        LabUpCommand.Create(),
        Action(new Command("down", "Stop the lab's processes and delete every namespace and file it made; also after a crash."), _ => Down()),
        Action(new Command("status", "Show the lab: VPC, subnets, nodes, agents, pods. Exit code 3 when it is not up.") { Json }, parse => Status(parse.GetValue(Json))),
        Action(new Command("env", "Print shell exports for AWS tools: eval \"$(fathomctl lab env)\".") { InVpc }, parse => Env(parse.GetValue(InVpc))),
        AsyncAction(new Command("attach", "Create an ENI and attach it to a node (CreateNetworkInterface + AttachNetworkInterface); prints ENI, MAC, IP and device.") { AttachNode, SubnetId, SecondaryIps },
            parse => AttachAsync(parse.GetRequiredValue(AttachNode), parse.GetValue(SubnetId), parse.GetValue(SecondaryIps))),
        LabPodCommands.Create(),
        LabSandboxCommands.Create(),
        LabNodeCommands.Create(),
        AsyncAction(new Command("serve", "The lab's server process, started by 'lab up'; refuses to run otherwise.") { Prefix },
            parse => LabServer.RunAsync(new LabLayout(parse.GetRequiredValue(Prefix)))),
    };

    private static Command Action(Command command, Func<ParseResult, int> run)
    {
        command.SetAction(run);
        return command;
    }

    private static Command AsyncAction(Command command, Func<ParseResult, Task<int>> run)
    {
        command.SetAction(run);
        return command;
    }

    /// <summary>Completes --node with the nodes of the lab that is up, if any (none for a bad $FATHOM_LAB_PREFIX: completing must not fail).</summary>
    internal static IEnumerable<string> NodeNames(CompletionContext context)
    {
        try
        {
            return LabStateStore.TryLoad(LabLayout.FromEnvironment())?.Nodes.Select(n => n.Name) ?? [];
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static int Down()
    {
        var layout = LabLayout.FromEnvironment();
        var removed = LabControl.Down(layout);
        Console.WriteLine(removed.Count == 0 ? $"lab '{layout.Prefix}' was not up" : $"lab '{layout.Prefix}' is down ({removed.Count} objects removed)");
        return 0;
    }

    private static int Status(bool json)
    {
        var status = LabStatus.Read(LabLayout.FromEnvironment());
        if (json) Console.WriteLine(status.ToJson());
        else PrintStatus(status);
        return status.State == "up" ? 0 : 3;
    }

    /// <summary>
    /// Shell exports for tools on the host; with --in-vpc the endpoint is the one processes
    /// inside an instance reach (an agent in a node netns), since 127.0.0.1 there is the node's own.
    /// </summary>
    private static int Env(bool inVpc)
    {
        var layout = LabLayout.FromEnvironment();
        var state = RequireUp(layout);
        Console.WriteLine($"export AWS_ACCESS_KEY_ID={state.Credentials.AccessKeyId}");
        Console.WriteLine($"export AWS_SECRET_ACCESS_KEY={state.Credentials.SecretAccessKey}");
        Console.WriteLine($"export AWS_DEFAULT_REGION={state.Credentials.Region}");
        Console.WriteLine($"export FATHOM_EC2_ENDPOINT={(inVpc ? state.VpcEndpoint : state.LoopbackEndpoint)}");
        Console.WriteLine($"export {LabLayout.PrefixVariable}={layout.Prefix}");
        return 0;
    }

    private static async Task<int> AttachAsync(string node, string? subnet, int secondary)
    {
        var state = RequireUp(LabLayout.FromEnvironment());
        var (eni, mac, ip, index) = await LabEc2Client.AttachNewEniAsync(state, node, subnet, secondary);
        Console.WriteLine($"{eni} {mac} {ip} attached to {node} as {LabLayout.DeviceName(index)}");
        return 0;
    }

    internal static LabState RequireUp(LabLayout layout)
    {
        var state = LabStateStore.TryLoad(layout);
        if (state is null || !LabControl.IsHealthy(layout, state))
            throw new InvalidOperationException($"lab '{layout.Prefix}' is not up (fathomctl lab up --nodes 2 --instance-type t3.medium)");
        return state;
    }

    /// <summary>How to run "fathomctl lab serve" again: this executable, or dotnet + fathomctl.dll.</summary>
    internal static ServerCommand ServerCommandOfThisProcess()
    {
        var exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot tell this program's path");
        return Path.GetFileNameWithoutExtension(exe) == "dotnet"
            ? new ServerCommand(exe, [Path.Combine(AppContext.BaseDirectory, "fathomctl.dll")])
            : new ServerCommand(exe, []);
    }

    internal static void PrintStatus(LabStatus s)
    {
        Console.WriteLine($"lab {s.Prefix}: {s.State}{(s.Error is null ? "" : " — " + s.Error)}");
        if (s.Vpc is null) return;
        Console.WriteLine($"  vpc     {s.Vpc.VpcId} {s.Vpc.Cidr} netns {s.Vpc.Netns}");
        Console.WriteLine($"  ec2     {s.Ec2Endpoint} (host)  {s.Vpc.Ec2Endpoint} (VPC)   imds {s.Vpc.ImdsEndpoint}");
        foreach (var subnet in s.Subnets)
            Console.WriteLine($"  subnet  {subnet.SubnetId} {subnet.Cidr,-14} gw {subnet.Gateway,-10} {subnet.AvailabilityZone} bridge {subnet.Bridge}");
        foreach (var node in s.Nodes)
            Console.WriteLine($"  node    {node.Name,-6} {node.InstanceId} {node.InstanceType,-11} {node.PrimaryIp,-12} netns {node.Netns}");
        foreach (var agent in s.Agents)
            Console.WriteLine($"  agent   {agent.Node,-6} pid {agent.Pid,-8} {agent.Socket}  {AgentStatusCommand.Summary(agent)}");
        if (s.Runtime is { } runtime)
            Console.WriteLine(runtime.Containerd.Count == 0 ? $"  runtime {runtime.Kind} ('lab pod add' runs the plugin)"
                : $"  runtime {runtime.Kind}: {string.Join(", ", runtime.Containerd.Select(c => $"{c.Node} {(c.Pid is { } pid ? $"pid {pid}" : "not running")}"))}");
        if (s.Datastore is { } store)
            Console.WriteLine(store.Members.Count == 0 ? $"  store   {store.Kind} {store.Directory}"
                : $"  store   {store.Kind}: {string.Join(", ", store.Members.Select(m => $"{m.Name} {(m.Running ? $"pid {m.Pid}" : $"pid {m.Pid} gone")} {m.ClientUrl} {(m.Healthy ? "healthy" : "unhealthy")}"))}");
        foreach (var pod in s.Pods)
            Console.WriteLine($"  pod     {pod.Name,-10} {pod.Mode,-9} node {pod.Node,-6} {string.Join(',', pod.Ips),-14} netns {pod.Netns}");
    }
}
