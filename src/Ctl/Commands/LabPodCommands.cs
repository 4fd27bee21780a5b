using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab pod add NAME --node N --mode underlay|shared [--device ethK] [--json]</c>: a pod made
/// through the fathom plugin and the node's agent, as a runtime makes it; <c>lab pod add NAME --node N
/// [--device ethK] [--dhcp]</c>: the seed article's manual underlay pod, for demos and run.sh;
/// <c>lab pod del NAME</c>; <c>lab pod exec NAME -- CMD...</c>; <c>lab pod record NAME --node N
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

    internal static readonly Option<string> AddMode = new("--mode")
    {
        Description = "Make the pod through the installed fathom plugin, as a container runtime would, in this mode (underlay, shared, host-gw or overlay); " +
                      "the node's agent allocates. Without it, an attached ENI is moved in by hand.",
        HelpName = "M",
        CompletionSources = { CniPods.Modes.ToArray() },
    };

    internal static readonly Option<bool> AddJson = new("--json") { Description = "Print the pod as one JSON object: name, node, mode, ip, mac, netns." };

    internal static readonly Argument<string> ExecName = new("NAME") { Description = "The pod to run the command in." };

    internal static readonly Argument<string[]> ExecCommand = new("CMD")
    {
        Description = "The command and its arguments (after --); its exit code is fathomctl's.",
        Arity = ArgumentArity.OneOrMore,
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
        var add = new Command("add", "Make a pod on a node: with --mode through the fathom plugin and the node's agent, as a runtime would; " +
                                     "without, move an attached ENI into a new pod netns as eth0 (the seed article's manual underlay pod). Records the pod.")
        {
            AddName, AddNode, AddMode, Device, Dhcp, AddJson,
        };
        add.SetAction(parse => Add(parse.GetRequiredValue(AddName), parse.GetRequiredValue(AddNode), parse.GetValue(AddMode), parse.GetValue(Device),
            parse.GetValue(Dhcp), parse.GetValue(AddJson)));
        var exec = new Command("exec", "Run a command in a pod's netns: fathomctl lab pod exec NAME -- CMD [ARG]...; exits with its exit code.") { ExecName, ExecCommand };
        exec.SetAction(parse => Exec(parse.GetRequiredValue(ExecName), parse.GetRequiredValue(ExecCommand)));
        var record = new Command("record", "List a pod someone else made (the CNI plugin, run.sh) in lab status while its netns exists.") { RecordName, RecordNode, Mode, Netns, Ips };
        record.SetAction(parse => Record(parse.GetRequiredValue(RecordName), parse.GetRequiredValue(RecordNode), parse.GetRequiredValue(Mode), parse.GetValue(Netns), parse.GetValue(Ips) ?? []));
        var del = new Command("del", "Delete a pod: CNI DEL for one made with --mode, then its netns (an ENI moved in by hand goes back to its node); succeeds when there is none.") { DelName };
        del.SetAction(parse => Delete(parse.GetRequiredValue(DelName)));
        return new Command("pod", "Pods of the lab: add, exec, record, del.") { add, exec, record, del };
    }

    private static Option<string> NodeOption(string description) => new("--node")
    {
        Description = description,
        HelpName = "NODE",
        Required = true,
        CompletionSources = { LabCommands.NodeNames },
    };

    private static int Add(string name, string node, string? mode, string? device, bool dhcp, bool json)
    {
        if (mode is not null && !CniPods.Modes.Contains(mode))
            throw new UsageException($"--mode: '{mode}' is not one of {string.Join(", ", CniPods.Modes)}");
        if (mode is not null && dhcp)
            throw new UsageException("--dhcp configures an ENI moved in by hand; with --mode the plugin and the agent configure the pod");
        if (mode is not null && mode != "underlay" && device is not null)
            throw new UsageException("--device names an ENI for underlay only");
        var layout = LabLayout.FromEnvironment();
        var state = LabCommands.RequireUp(layout);
        // A CNI error propagates as CniPluginException, whose message ("CNI error CODE: msg (details)")
        // fathomctl prints on stderr with exit code 1.
        var pod = mode is null
            ? PodNetworking.Add(layout, state, name, node, device, dhcp)
            : CniPods.Add(layout, state, name, node, mode, device, CniPods.ResolvePlugin());
        if (json)
            Console.WriteLine(PodJson(pod).ToJsonString());
        else
            Console.WriteLine($"pod {pod.Name}: {pod.Mode} on {pod.Node}, netns {pod.Netns}, eth0 {pod.Mac} {string.Join(',', pod.Ips)}");
        return 0;
    }

    /// <summary>What <c>lab pod add --json</c> prints: name, node, mode, ip (no prefix length), mac, netns.</summary>
    internal static JsonObject PodJson(LabPod pod) => new()
    {
        ["name"] = pod.Name,
        ["node"] = pod.Node,
        ["mode"] = pod.Mode,
        ["ip"] = pod.Ip,
        ["mac"] = pod.Mac,
        ["netns"] = pod.Netns,
    };

    /// <summary>
    /// <c>ip netns exec</c> into the pod with fathomctl's stdio; the command's exit code passes
    /// through (a shell's 128+N for a signal, as <c>ip netns exec</c> itself reports it).
    /// </summary>
    private static int Exec(string name, IReadOnlyList<string> command)
    {
        var layout = LabLayout.FromEnvironment();
        var netns = (Directory.Exists(layout.StateDirectory) ? LabStateStore.LoadPods(layout).FirstOrDefault(p => p.Name == name)?.Netns : null)
            ?? layout.PodNetns(name);
        if (!Fathom.Netlink.Netns.Exists(netns)) throw new InvalidOperationException($"no pod '{name}' in lab '{layout.Prefix}' (no netns {netns})");
        // A pod recorded by path (a runtime's netns outside /run/netns) is entered with nsenter.
        string[] argv = netns.Contains('/') ? ["nsenter", $"--net={netns}", "--", .. command] : ["ip", "netns", "exec", netns, .. command];
        var psi = new ProcessStartInfo(argv[0]) { UseShellExecute = false };
        foreach (var a in argv[1..]) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {argv[0]}");
        process.WaitForExit();
        return process.ExitCode;
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
