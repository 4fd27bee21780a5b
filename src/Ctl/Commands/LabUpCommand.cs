using System.CommandLine;
using System.Globalization;
using Fathom.Lab;
using Fathom.Lab.Control;
using Fathom.Lab.Ec2;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab up [--nodes N] [--instance-type T] [--subnets N] [--imds-delay MS] [--faults SPEC]
/// [--attach-latency MS] [--throttle-rate R] [--error-rate R] [--no-agents] [--runtime none|containerd] [--datastore embedded|etcd] [--redirect kernel|bpf]</c>: builds the lab, or says it is up.
/// </summary>
internal static class LabUpCommand
{
    private static readonly string[] InstanceTypes = [.. InstanceTypeLimits.Known.Select(t => t.Name)];

    internal static readonly Option<int> Nodes = NumberOptions.Integer("--nodes", "How many instances (nodes) to launch, 1..64.", 2);

    internal static readonly Option<string> InstanceType = CreateInstanceType();

    internal static readonly Option<int> Subnets = NumberOptions.Integer("--subnets", $"How many /20 subnets the VPC has, 1..{LabLayout.MaxSubnets}; every node's primary ENI is in the first.", 1);

    internal static readonly Option<int> ImdsDelay = NumberOptions.Milliseconds("--imds-delay", "How long a just-attached ENI stays invisible in IMDS.");

    internal static readonly Option<string> Faults = new("--faults")
    {
        Description = "Faults the EC2 API injects, comma-separated: throttle=R, error=R, lost=R (done, then answered 500), attach-latency=300ms " +
                      "for all actions; throttle:ACTION=R, error:ACTION=R, lost:ACTION=R for one (docs/lab.md, Faults).",
        HelpName = "SPEC",
    };

    internal static readonly Option<int> AttachLatency = NumberOptions.Milliseconds("--attach-latency", "Short for --faults attach-latency=MSms: how long AttachNetworkInterface keeps an ENI attaching.");

    internal static readonly Option<double> ThrottleRate = NumberOptions.Rate("--throttle-rate", "Short for --faults throttle=RATE: the fraction of API calls answered RequestLimitExceeded.");

    internal static readonly Option<double> ErrorRate = NumberOptions.Rate("--error-rate", "Short for --faults error=RATE: the fraction of API calls answered InternalError or Unavailable.");

    internal static readonly Option<bool> NoAgents = new("--no-agents")
    {
        Description = "Run no fathom-agent in the nodes (by default the lab server runs and supervises one per node, as systemd would).",
    };

    internal static readonly Option<string> Runtime = new("--runtime")
    {
        Description = "The container runtime each node runs: none (pods come from 'lab pod add'), or containerd (Debian's, its CRI " +
                      "plugin running the installed fathom plugin; 'lab sandbox run' drives it as the kubelet does).",
        HelpName = "none|containerd",
        DefaultValueFactory = _ => "none",
    };

    internal static readonly Option<string> Datastore = Choice("--datastore",
        "Where the agents keep the host-gw and overlay subnet leases: embedded (a directory of the lab's state) " +
        "or etcd (a 3-member etcd cluster run in the VPC netns, removed by lab down).", "embedded", "etcd");

    internal static readonly Option<string> Redirect = Choice("--redirect",
        "The host-gw and overlay pods' path in every node's agent: kernel (the nodes forward) or bpf (tc programs " +
        "carry pod-to-pod packets past the nodes' stacks; docs/modes.md, The tc BPF pod path).", "kernel", "bpf");

    // An option that takes one of values, the first by default.
    private static Option<string> Choice(string name, string description, params string[] values)
    {
        var option = new Option<string>(name)
        {
            Description = description,
            HelpName = string.Join('|', values),
            DefaultValueFactory = _ => values[0],
        };
        option.AcceptOnlyFromAmong(values);
        return option;
    }

    public static Command Create()
    {
        var command = new Command("up", "Build the lab: a VPC, its subnets and instances in network namespaces, and the server of its EC2 API, IMDS and DHCP. A lab that is already up is left as it is.")
        {
            Nodes, InstanceType, Subnets, ImdsDelay, Faults, AttachLatency, ThrottleRate, ErrorRate, NoAgents, Runtime, Datastore, Redirect,
        };
        command.SetAction(parse => Run(OptionsFrom(parse)));
        return command;
    }

    /// <summary>The lab's options as the command line gives them, the three fault flags folded into <see cref="LabOptions.Faults"/>.</summary>
    internal static LabOptions OptionsFrom(ParseResult parse) => new()
    {
        Nodes = parse.GetValue(Nodes),
        InstanceType = parse.GetRequiredValue(InstanceType),
        Subnets = parse.GetValue(Subnets),
        ImdsDelayMs = parse.GetValue(ImdsDelay),
        Faults = FoldFaultFlags(parse.GetValue(Faults), parse.GetValue(AttachLatency), parse.GetValue(ThrottleRate), parse.GetValue(ErrorRate)),
        Agents = !parse.GetValue(NoAgents),
        Runtime = parse.GetValue(Runtime) is { } runtime && runtime != "none" ? runtime : null,
        Datastore = parse.GetValue(Datastore) ?? "embedded",
        Redirect = parse.GetValue(Redirect) ?? "kernel",
    };

    /// <summary>
    /// <c>--attach-latency</c>, <c>--throttle-rate</c> and <c>--error-rate</c> are sugar for
    /// <c>--faults</c>: each that is not zero is appended to the fault spec. FaultPlan.Parse
    /// applies the parts in order, so a flag overrides the same all-actions key in
    /// <paramref name="faults"/>, as the separate settings did, and a per-action rate still wins
    /// for its action.
    /// </summary>
    internal static string? FoldFaultFlags(string? faults, int attachLatencyMs, double throttleRate, double errorRate)
    {
        var parts = new List<string>();
        if (!string.IsNullOrWhiteSpace(faults)) parts.Add(faults.Trim());
        if (attachLatencyMs > 0) parts.Add($"attach-latency={attachLatencyMs.ToString(CultureInfo.InvariantCulture)}ms");
        if (throttleRate > 0) parts.Add($"throttle={throttleRate.ToString("R", CultureInfo.InvariantCulture)}");
        if (errorRate > 0) parts.Add($"error={errorRate.ToString("R", CultureInfo.InvariantCulture)}");
        return parts.Count == 0 ? faults : string.Join(',', parts);
    }

    private static Option<string> CreateInstanceType()
    {
        var option = new Option<string>("--instance-type")
        {
            Description = $"The instances' type, one of {string.Join(", ", InstanceTypes)}; its ENI and address limits are AWS's.",
            HelpName = "TYPE",
            DefaultValueFactory = _ => "t3.medium",
        };
        option.CompletionSources.Add(InstanceTypes);
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && result.Tokens[^1].Value is var type && !InstanceTypes.Contains(type))
                result.AddError($"--instance-type: unknown '{type}' (known: {string.Join(", ", InstanceTypes)})");
        });
        return option;
    }

    private static int Run(LabOptions options)
    {
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UsageException(e.Message); }
        var layout = LabLayout.FromEnvironment();
        var (outcome, state) = LabControl.Up(layout, options, LabCommands.ServerCommandOfThisProcess(), Console.Error.WriteLine);
        Console.WriteLine(outcome switch
        {
            UpOutcome.AlreadyUp => $"lab '{layout.Prefix}' is already up",
            UpOutcome.Repaired => $"lab '{layout.Prefix}' was half up: rebuilt",
            _ => $"lab '{layout.Prefix}' is up",
        });
        if (outcome == UpOutcome.AlreadyUp && state.Options != options)
            Console.Error.WriteLine($"note: it runs with other options ({Describe(state.Options)}); 'fathomctl lab down' first to change them");
        LabCommands.PrintStatus(LabStatus.Read(layout));
        return 0;
    }

    private static string Describe(LabOptions o) =>
        $"{o.Nodes} × {o.InstanceType}, {o.Subnets} subnet(s), IMDS delay {o.ImdsDelayMs} ms{(o.Faults is null ? "" : ", faults " + o.Faults)}{(o.Agents ? "" : ", no agents")}{(o.Runtime is null ? "" : ", runtime " + o.Runtime)}, datastore {o.Datastore}, redirect {o.Redirect}";
}
