using System.CommandLine;
using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab pod add NAME --node N [--device ethK] [--dhcp]</c> and <c>lab pod del NAME</c>:
/// the seed article's manual underlay pod, for demos and run.sh; <c>lab pod record NAME --node N
/// --mode M [--netns NS] [--ip IP]...</c> lists a pod someone else made (the CNI plugin) in <c>lab status</c>.
/// </summary>
internal static class LabPodCommands
{
    /// <summary>The modes of DESIGN.md §3, offered for completion; any other is recorded as given.</summary>
    private static readonly string[] Modes = ["underlay", "shared", "host-gw", "overlay"];

    internal static readonly Argument<string> AddName = new("NAME") { Description = "The pod's name; its netns is <prefix>-pod-NAME." };
    internal static readonly Argument<string> RecordName = new("NAME") { Description = "The pod's name, as lab status lists it." };
    internal static readonly Argument<string> DelName = new("NAME") { Description = "The pod to delete." };

    internal static readonly Option<string> AddNode = NodeOption("The node whose attached ENI moves into the pod.");
    internal static readonly Option<string> RecordNode = NodeOption("The node the pod runs on.");

    internal static readonly Option<string> Device = new("--device")
    {
        Description = "The node's ENI device to move in (default: its highest ethK, K > 0).",
        HelpName = "ethK",
    };

    internal static readonly Option<bool> Dhcp = new("--dhcp") { Description = "Run dhclient on the pod's eth0 (the VPC's DHCP knows the ENI's MAC)." };

    internal static readonly Option<string> Mode = new("--mode")
    {
        Description = "The pod's datapath mode (underlay, shared, host-gw, overlay, ...).",
        HelpName = "M",
        Required = true,
        CompletionSources = { Modes },
    };

    internal static readonly Option<string> Netns = new("--netns")
    {
        Description = "The pod's netns, by name or path (default: <prefix>-pod-NAME).",
        HelpName = "NS",
    };

    internal static readonly Option<string[]> Ips = new("--ip")
    {
        Description = "An address of the pod; repeat for more.",
        HelpName = "IP",
        DefaultValueFactory = _ => [],
    };

    public static Command Create()
    {
        var add = new Command("add", "Move an attached ENI into a new pod netns as eth0 (the seed article's manual underlay pod); records the pod.") { AddName, AddNode, Device, Dhcp };
        add.SetAction(parse => Add(parse.GetRequiredValue(AddName), parse.GetRequiredValue(AddNode), parse.GetValue(Device), parse.GetValue(Dhcp)));
        var record = new Command("record", "List a pod someone else made (the CNI plugin, run.sh) in lab status while its netns exists.") { RecordName, RecordNode, Mode, Netns, Ips };
        record.SetAction(parse => Record(parse.GetRequiredValue(RecordName), parse.GetRequiredValue(RecordNode), parse.GetRequiredValue(Mode), parse.GetValue(Netns), parse.GetValue(Ips) ?? []));
        var del = new Command("del", "Delete a pod's netns (its ENI goes back to its node); succeeds when there is none.") { DelName };
        del.SetAction(parse => Delete(parse.GetRequiredValue(DelName)));
        return new Command("pod", "Pods of the lab: add, record, del.") { add, record, del };
    }

    private static Option<string> NodeOption(string description) => new("--node")
    {
        Description = description,
        HelpName = "NODE",
        Required = true,
        CompletionSources = { LabCommands.NodeNames },
    };

    private static int Add(string name, string node, string? device, bool dhcp)
    {
        var layout = LabLayout.FromEnvironment();
        LabCommands.RequireUp(layout);
        var pod = PodNetworking.Add(layout, name, node, device, dhcp);
        Console.WriteLine($"pod {pod.Name}: netns {pod.Netns}, eth0 {pod.Mac} {string.Join(',', pod.Ips)}");
        return 0;
    }

    private static int Record(string name, string node, string mode, string? netns, IReadOnlyList<string> ips)
    {
        var layout = LabLayout.FromEnvironment();
        PodNetworking.Record(layout, new LabPod(name, netns ?? layout.PodNetns(name), node, mode, ips));
        return 0;
    }

    private static int Delete(string name)
    {
        var layout = LabLayout.FromEnvironment();
        Console.WriteLine(PodNetworking.Delete(layout, name) ? $"pod {name} deleted" : $"pod {name} did not exist");
        return 0;
    }
}
