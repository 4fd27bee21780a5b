using System.CommandLine;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab sandbox run NAME --node N [--mode shared|underlay] [--namespace NS] [--json]</c>,
/// <c>lab sandbox rm NAME</c>, <c>lab sandbox ls</c>: pod sandboxes made through the node's containerd
/// over the CRI, as the kubelet makes them (<c>lab up --runtime containerd</c>; docs/kubernetes.md).
/// </summary>
internal static class LabSandboxCommands
{
    internal static readonly Argument<string> Name = new("NAME") { Description = "The pod's name (metadata.name)." };

    internal static readonly Option<string> Node = new("--node")
    {
        Description = "The node whose containerd runs the sandbox.",
        HelpName = "NODE",
        Required = true,
        CompletionSources = { LabCommands.NodeNames },
    };

    internal static readonly Option<string> Mode = new("--mode")
    {
        Description = "The runtime handler, one per mode (its conflist): shared (the default handler's) or underlay.",
        HelpName = "M",
        DefaultValueFactory = _ => LabContainerd.Modes[0],
        CompletionSources = { LabContainerd.Modes.ToArray() },
    };

    internal static readonly Option<string> Namespace = new("--namespace")
    {
        Description = "The pod's Kubernetes namespace (metadata.namespace).",
        HelpName = "NS",
        DefaultValueFactory = _ => "default",
    };

    internal static readonly Option<bool> Json = new("--json") { Description = "Print the sandbox as one JSON object: name, namespace, uid, node, mode, sandboxId, ip, eniId, mac." };

    public static Command Create()
    {
        var run = new Command("run", "RunPodSandbox through the node's containerd (which runs the fathom plugin's ADD, the pod's K8S_POD_* in CNI_ARGS); " +
                                     "prints the IP PodSandboxStatus reports and the ENI the node's agent gave.")
        {
            Name, Node, Mode, Namespace, Json,
        };
        run.SetAction((parse, token) => RunAsync(parse.GetRequiredValue(Name), parse.GetRequiredValue(Node), parse.GetRequiredValue(Mode),
            parse.GetRequiredValue(Namespace), parse.GetValue(Json), token));
        var rm = new Command("rm", "StopPodSandbox and RemovePodSandbox (containerd's two DELs); succeeds when there is none.") { Name };
        rm.SetAction(async (parse, token) =>
        {
            var layout = LabLayout.FromEnvironment();
            var name = parse.GetRequiredValue(Name);
            Console.WriteLine(await LabSandboxes.RemoveAsync(layout, LabCommands.RequireUp(layout), name, token)
                ? $"sandbox {name} stopped and removed" : $"sandbox {name} did not exist");
            return 0;
        });
        var ls = new Command("ls", "The sandboxes 'lab sandbox run' made, one per line.");
        ls.SetAction(_ =>
        {
            var layout = LabLayout.FromEnvironment();
            foreach (var s in LabSandboxes.List(layout, LabCommands.RequireUp(layout)))
                Console.WriteLine($"{s.Name}\t{s.Namespace}\t{s.Node}\t{s.Mode}\t{s.Ip}\t{s.SandboxId[..12]}");
            return 0;
        });
        return new Command("sandbox", "Pod sandboxes through each node's containerd and its CRI (lab up --runtime containerd): run, rm, ls.") { run, rm, ls };
    }

    private static async Task<int> RunAsync(string name, string node, string mode, string k8sNamespace, bool json, CancellationToken token)
    {
        if (!LabContainerd.Modes.Contains(mode))
            throw new UsageException($"--mode: '{mode}' is not one of {string.Join(", ", LabContainerd.Modes)}");
        var layout = LabLayout.FromEnvironment();
        var state = LabCommands.RequireUp(layout);
        var sandbox = await LabSandboxes.RunAsync(layout, state, name, node, mode, k8sNamespace, token);
        var (eniId, mac) = EniOf(layout, sandbox);
        if (json)
        {
            Console.WriteLine(new JsonObject
            {
                ["name"] = sandbox.Name, ["namespace"] = sandbox.Namespace, ["uid"] = sandbox.Uid, ["node"] = sandbox.Node,
                ["mode"] = sandbox.Mode, ["sandboxId"] = sandbox.SandboxId, ["ip"] = sandbox.Ip, ["eniId"] = eniId, ["mac"] = mac,
            }.ToJsonString());
        }
        else
        {
            Console.WriteLine($"sandbox {sandbox.Namespace}/{sandbox.Name} on {sandbox.Node} through containerd's CRI: id {sandbox.SandboxId[..12]}, " +
                              $"IP {sandbox.Ip} ({sandbox.Mode}{(eniId is null ? "" : $", ENI {eniId} {mac}")})");
        }
        return 0;
    }

    // The ENI behind the sandbox, as the node's agent records it (the sandbox ID is CNI_CONTAINERID).
    private static (string? EniId, string? Mac) EniOf(LabLayout layout, LabSandbox sandbox)
    {
        try
        {
            var status = new AgentClient(layout.AgentSocket(sandbox.Node), TimeSpan.FromSeconds(5)).Status();
            var allocation = status.Allocations.FirstOrDefault(a => a.ContainerId == sandbox.SandboxId)?.Allocation;
            if (allocation is null) return (null, null);
            var mac = allocation is UnderlayAllocation u ? u.Mac : status.Enis.FirstOrDefault(e => e.EniId == allocation.EniId)?.Mac;
            return (allocation.EniId, mac);
        }
        catch (AgentException)
        {
            return (null, null);
        }
    }
}
