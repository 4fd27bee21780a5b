using System.CommandLine;
using Fathom.Lab;
using Fathom.Lab.Control;
using Fathom.Lab.Ec2;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl lab up [--nodes N] [--instance-type T] [--subnets N] [--imds-delay MS] [--faults SPEC]
/// [--attach-latency MS] [--throttle-rate R] [--error-rate R]</c>: builds the lab, or says it is up.
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
        Description = "Faults the EC2 API injects, comma-separated: throttle=R, error=R, attach-latency=300ms for all actions; " +
                      "throttle:ACTION=R, error:ACTION=R for one (docs/lab.md, Faults).",
        HelpName = "SPEC",
    };

    internal static readonly Option<int> AttachLatency = NumberOptions.Milliseconds("--attach-latency", "How long AttachNetworkInterface keeps an ENI attaching, for all actions (on top of --faults).");

    internal static readonly Option<double> ThrottleRate = NumberOptions.Rate("--throttle-rate", "The fraction of API calls answered RequestLimitExceeded (on top of --faults).");

    internal static readonly Option<double> ErrorRate = NumberOptions.Rate("--error-rate", "The fraction of API calls answered InternalError or Unavailable (on top of --faults).");

    public static Command Create()
    {
        var command = new Command("up", "Build the lab: a VPC, its subnets and instances in network namespaces, and the server of its EC2 API, IMDS and DHCP. A lab that is already up is left as it is.")
        {
            Nodes, InstanceType, Subnets, ImdsDelay, Faults, AttachLatency, ThrottleRate, ErrorRate,
        };
        command.SetAction(parse => Run(OptionsFrom(parse)));
        return command;
    }

    /// <summary>The lab's options as the command line gives them.</summary>
    internal static LabOptions OptionsFrom(ParseResult parse) => new()
    {
        Nodes = parse.GetValue(Nodes),
        InstanceType = parse.GetRequiredValue(InstanceType),
        Subnets = parse.GetValue(Subnets),
        ImdsDelayMs = parse.GetValue(ImdsDelay),
        Faults = parse.GetValue(Faults),
        AttachLatencyMs = parse.GetValue(AttachLatency),
        ThrottleRate = parse.GetValue(ThrottleRate),
        ErrorRate = parse.GetValue(ErrorRate),
    };

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
        $"{o.Nodes} × {o.InstanceType}, {o.Subnets} subnet(s), attach latency {o.AttachLatencyMs} ms, throttle {o.ThrottleRate}, errors {o.ErrorRate}, " +
        $"IMDS delay {o.ImdsDelayMs} ms{(o.Faults is null ? "" : ", faults " + o.Faults)}";
}
