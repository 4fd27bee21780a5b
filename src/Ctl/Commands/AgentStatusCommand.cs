using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab;
using Fathom.Lab.Control;

namespace Fathom.Ctl;

/// <summary>
/// <c>fathomctl status [--socket PATH | --node N] [--json]</c>: a node agent's pools, ENIs and
/// allocations, read over its socket with the agent protocol's <c>status</c> request (DESIGN §4:
/// the introspection API <c>fathomctl status</c> renders).
/// </summary>
internal static class AgentStatusCommand
{
    internal static readonly Option<string> Socket = new("--socket")
    {
        Description = $"The agent's socket (default {AgentProtocol.DefaultSocketPath}).",
        HelpName = "PATH",
    };

    internal static readonly Option<string> Node = new("--node")
    {
        Description = "Read the agent of this lab node instead (the lab of $FATHOM_LAB_PREFIX).",
        HelpName = "NODE",
        CompletionSources = { LabCommands.NodeNames },
    };

    internal static readonly Option<bool> Json = new("--json") { Description = "Print the agent's status reply as JSON." };

    /// <summary>How long fathomctl waits for an agent's answer.</summary>
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var command = new Command("status", "Show a node agent's pools, ENIs and allocations (it asks fathom-agent over its socket).") { Socket, Node, Json };
        command.SetAction(parse => Run(parse.GetValue(Socket), parse.GetValue(Node), parse.GetValue(Json)));
        return command;
    }

    private static int Run(string? socket, string? node, bool json)
    {
        if (socket is not null && node is not null) throw new UsageException("--socket and --node name the agent twice: give one");
        var path = socket ?? AgentProtocol.DefaultSocketPath;
        if (node is not null)
        {
            var layout = LabLayout.FromEnvironment();
            path = layout.AgentSocket(LabCommands.RequireUp(layout).RequireNode(node).Name);
        }
        // AgentException's message says what went wrong (not running, no answer, refused), with its code.
        var status = new AgentClient(path, Timeout).Status();
        Console.Write(json ? ToJson(status) : Render(status, path));
        return 0;
    }

    /// <summary>The status reply as the agent sent it (every field of the protocol), indented, with a final newline.</summary>
    internal static string ToJson(AgentStatus status)
    {
        var bytes = AgentMessages.Serialize(new StatusReply { Status = status });
        return JsonNode.Parse(bytes)!.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>The tables: a summary line, then pools, ENIs and allocations; the subnet modes' lease and pods when the agent runs any.</summary>
    internal static string Render(AgentStatus s, string socket)
    {
        var text = new StringWriter(CultureInfo.InvariantCulture);
        text.WriteLine($"fathom-agent {s.AgentVersion} at {socket}, {s.Time.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z: " +
                       $"{s.Allocations.Count} allocation(s), {s.PendingTeardowns} teardown(s) pending, {s.CoolingIps} IP(s) cooling" +
                       (s.Subnets.Count > 0 ? $", {s.Subnets.Sum(n => n.Pods.Count(p => !p.Releasing))} subnet pod(s)" : ""));
        text.WriteLine();
        text.WriteLine("POOLS");
        Table(text, ["MODE", "AVAILABLE", "IN USE", "COOLING", "WARM TARGET", "CAPACITY"],
            s.Pools.Select(p => new[] { ModeName(p.Mode), N(p.Available), N(p.InUse), N(p.Cooling), N(p.WarmTarget), N(p.Capacity) }));
        text.WriteLine();
        text.WriteLine("ENIS");
        Table(text, ["ENI", "MAC", "INDEX", "DEVICE", "SUBNET", "USE", "IPS"],
            s.Enis.OrderBy(e => e.DeviceIndex).Select(e => new[]
            {
                e.EniId, e.Mac, N(e.DeviceIndex), e.HostDevice ?? "(in a pod)", e.SubnetId ?? "-", e.Use, $"{e.IpsInUse}/{e.IpsCapacity}",
            }));
        text.WriteLine();
        text.WriteLine("ALLOCATIONS");
        Table(text, ["POD", "CONTAINER", "IF", "MODE", "ADDRESS", "ENI", "DEVICE", "STATE", "SINCE"],
            s.Allocations.OrderBy(a => a.Since).Select(a => new[]
            {
                a.Pod is { } pod ? $"{pod.Namespace}/{pod.Name}" : "-",
                a.ContainerId.Length > 12 ? a.ContainerId[..12] : a.ContainerId,
                a.IfName,
                ModeName(a.Allocation.Mode),
                a.Allocation.Address,
                a.Allocation.EniId,
                a.Allocation switch { UnderlayAllocation u => u.HostDevice, SharedAllocation sh => sh.HostVeth, _ => "-" },
                a.State,
                a.Since.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z",
            }));
        if (s.Subnets.Count > 0) RenderSubnets(text, s.Subnets);
        return text.ToString();
    }

    // host-gw and overlay: the node's lease, then the pods holding its addresses (their own store,
    // not the allocations above: no ENI, no cloud).
    private static void RenderSubnets(StringWriter text, IReadOnlyList<SubnetStatus> subnets)
    {
        text.WriteLine();
        text.WriteLine("SUBNETS");
        Table(text, ["MODE", "SUBNET", "LEASE EXPIRES", "PEERS", "PODS", "NEW PODS"],
            subnets.Select(n => new[]
            {
                ModeName(n.Mode),
                n.Subnet ?? "(none yet)",
                n.LeaseExpires is { } e ? e.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + "Z" : "-",
                N(n.Peers),
                N(n.Pods.Count(p => !p.Releasing)),
                n.Unavailable is null ? "accepted" : "refused: " + n.Unavailable,
            }));
        text.WriteLine();
        text.WriteLine("SUBNET PODS");
        Table(text, ["CONTAINER", "IF", "MODE", "ADDRESS", "DEVICE", "STATE"],
            subnets.SelectMany(n => n.Pods.Select(p => new[]
            {
                p.ContainerId.Length > 12 ? p.ContainerId[..12] : p.ContainerId,
                p.IfName,
                ModeName(n.Mode),
                p.Ip + "/32",
                p.HostVeth,
                p.Releasing ? "releasing" : "committed",
            })));
    }

    private static string N(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string ModeName(AllocationMode mode) => Allocation.ModeName(mode);

    /// <summary>Left-aligned columns two spaces apart, as kubectl prints them; "(none)" for no rows.</summary>
    internal static void Table(TextWriter text, string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.ToList();
        if (all.Count == 0)
        {
            text.WriteLine("  (none)");
            return;
        }
        var widths = header.Select((h, i) => Math.Max(h.Length, all.Max(r => r[i].Length))).ToArray();
        text.WriteLine("  " + string.Join("  ", header.Select((h, i) => h.PadRight(widths[i]))).TrimEnd());
        foreach (var row in all)
            text.WriteLine("  " + string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
    }

    /// <summary>
    /// One line per lab agent for <c>lab status</c>: the agent's own summary when it answers within a
    /// second, or why not.
    /// </summary>
    internal static string Summary(LabAgent agent)
    {
        try
        {
            var s = new AgentClient(agent.Socket, TimeSpan.FromSeconds(1)).Status();
            var pools = s.Pools.Count == 0 ? "no pools" : string.Join(", ", s.Pools.Select(p => $"{ModeName(p.Mode)} {p.Available} free/{p.InUse} used"));
            var subnets = string.Concat(s.Subnets.Select(n => $", {ModeName(n.Mode)} {n.Subnet ?? "(no lease yet)"} {n.Pods.Count(p => !p.Releasing)} pod(s)"));
            return $"answers: {pools}, {s.Enis.Count} ENI(s), {s.Allocations.Count} allocation(s){subnets}";
        }
        catch (AgentException e)
        {
            return $"does not answer: {e.Message}";
        }
    }
}
