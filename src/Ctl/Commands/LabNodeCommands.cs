using System.CommandLine;
using Fathom.Lab;
using Fathom.Lab.Control;
using Fathom.Lab.Ec2;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab node add NAME [--type T] [--json]</c> and <c>lab node rm NAME</c>: a node that joins
/// or leaves the running lab (docs/lab.md), made exactly as <c>lab up</c> makes its nodes — by the lab's
/// server, over its control socket.
/// </summary>
internal static class LabNodeCommands
{
    internal static readonly Argument<string> Name = new("NAME") { Description = "The node's name: a lowercase letter, then up to 14 lowercase letters or digits (e.g. node3)." };

    internal static readonly Argument<string> ExistingName = new("NAME") { Description = "The node to remove.", CompletionSources = { LabCommands.NodeNames } };

    internal static readonly Option<string> Type = CreateType();

    internal static readonly Option<bool> Json = new("--json") { Description = "Print the node as one JSON object: name, netns, instanceId, instanceType, primaryIp, mac, subnetId." };

    private static Option<string> CreateType()
    {
        var known = InstanceTypeLimits.Known.Select(t => t.Name).ToArray();
        var option = new Option<string>("--type")
        {
            Description = $"The instance's type, one of {string.Join(", ", known)} (default: the lab's --instance-type).",
            HelpName = "TYPE",
        };
        option.CompletionSources.Add(known);
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && result.Tokens[^1].Value is var type && !known.Contains(type))
                result.AddError($"--type: unknown '{type}' (known: {string.Join(", ", known)})");
        });
        return option;
    }

    public static Command Create()
    {
        var add = new Command("add", "Launch a new instance into the running lab — its own netns, primary ENI, IMDS and DHCP — and start its " +
                                     "fathom-agent (and containerd) as 'lab up' does; returns once the agent listens.")
        {
            Name, Type, Json,
        };
        add.SetAction(async (parse, token) =>
        {
            var layout = LabLayout.FromEnvironment();
            var name = parse.GetRequiredValue(Name);
            Validate(name);
            LabCommands.RequireUp(layout);
            var node = await LabControlSocket.AddNodeAsync(layout, name, parse.GetValue(Type), token);
            Console.WriteLine(parse.GetValue(Json)
                ? LabControlSocket.NodeJson(node)
                : $"node {node.Name}: {node.InstanceId} {node.InstanceType} {node.PrimaryIp} netns {node.Netns}");
            return 0;
        });
        var rm = new Command("rm", "Stop a node's agent (and containerd), terminate its instance and delete its netns; its leases expire " +
                                   "as a vanished node's do. Refused while pods recorded on it exist.")
        {
            ExistingName,
        };
        rm.SetAction(async (parse, token) =>
        {
            var layout = LabLayout.FromEnvironment();
            var name = parse.GetRequiredValue(ExistingName);
            LabCommands.RequireUp(layout);
            await LabControlSocket.RemoveNodeAsync(layout, name, token);
            Console.WriteLine($"node {name} removed");
            return 0;
        });
        return new Command("node", "Nodes joining or leaving the running lab.") { add, rm };
    }

    private static void Validate(string name)
    {
        try { LabNodeName.Validate(name); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
    }
}
