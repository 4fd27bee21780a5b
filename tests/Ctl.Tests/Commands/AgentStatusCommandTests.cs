using System.Diagnostics;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;

namespace Fathom.Ctl.Tests.Commands;

/// <summary><c>fathomctl status</c>: an agent's pools, ENIs and allocations as tables, or its status reply as JSON.</summary>
public sealed class AgentStatusCommandTests
{
    private static readonly AgentStatus Sample = new()
    {
        AgentVersion = "0.9.0",
        Time = new DateTimeOffset(2026, 12, 6, 1, 2, 3, TimeSpan.Zero),
        Pools =
        [
            new PoolStatus { Mode = AllocationMode.Underlay, Available = 1, InUse = 1, WarmTarget = 1, Capacity = 2 },
            new PoolStatus { Mode = AllocationMode.Shared, Available = 3, InUse = 1, Cooling = 1, WarmTarget = 2, Capacity = 10 },
        ],
        Enis =
        [
            new EniStatus { EniId = "eni-0b", Mac = "02:00:0a:00:00:0b", DeviceIndex = 1, HostDevice = "eth1", SubnetId = "subnet-1", Use = "shared", IpsInUse = 1, IpsCapacity = 5 },
            new EniStatus { EniId = "eni-0a", Mac = "02:00:0a:00:00:0a", DeviceIndex = 0, HostDevice = "eth0", SubnetId = "subnet-1", Use = "primary" },
            new EniStatus { EniId = "eni-0c", Mac = "02:00:0a:00:00:0c", DeviceIndex = 2, SubnetId = "subnet-1", Use = "underlay" },
        ],
        Allocations =
        [
            new AllocationStatus
            {
                Network = "fathom-shared", ContainerId = "c0ffee0123456789abcdef", IfName = "eth0", State = "committed",
                Pod = new PodIdentity { Namespace = "default", Name = "web-1" }, Since = new DateTimeOffset(2026, 12, 6, 1, 0, 0, TimeSpan.Zero),
                Allocation = new SharedAllocation { EniId = "eni-0b", Gateway = "10.0.0.1", Address = "10.0.0.21/32", RouteTable = 101, HostVeth = "fth0123456789a" },
            },
            new AllocationStatus
            {
                Network = "fathom-underlay", ContainerId = "beef", IfName = "eth0", State = "pending", Since = new DateTimeOffset(2026, 12, 6, 1, 1, 0, TimeSpan.Zero),
                Allocation = new UnderlayAllocation { EniId = "eni-0c", Gateway = "10.0.0.1", Address = "10.0.0.30/20", Mac = "02:00:0a:00:00:0c", HostDevice = "eth2", Mtu = 9001 },
            },
        ],
        PendingTeardowns = 1,
        CoolingIps = 1,
    };

    [Fact]
    public void TheTablesHaveAColumnPerFieldAndARowPerObject()
    {
        var text = AgentStatusCommand.Render(Sample, "/run/fathom/agent.sock");
        var lines = text.Split('\n');
        Assert.StartsWith("fathom-agent 0.9.0 at /run/fathom/agent.sock, 2026-12-06 01:02:03Z: 2 allocation(s), 1 teardown(s) pending, 1 IP(s) cooling", lines[0]);
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["shared", "3", "1", "1", "2", "10"]);
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["underlay", "1", "1", "0", "1", "2"]);
        // ENIs by device index; one in a pod has no host device.
        var enis = lines.Where(l => l.TrimStart().StartsWith("eni-", StringComparison.Ordinal)).ToList();
        Assert.Equal(["eni-0a", "eni-0b", "eni-0c"], enis.Select(l => l.Trim().Split(' ')[0]));
        Assert.Contains("(in a pod)", enis[2]);
        Assert.Contains("1/5", enis[1]);
        // Allocations, oldest first, with the container id cut as docker and crictl cut it.
        var rows = lines.SkipWhile(l => l != "ALLOCATIONS").Skip(2).Where(l => l.Length > 0).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(["default/web-1", "c0ffee012345", "eth0", "shared", "10.0.0.21/32", "eni-0b", "fth0123456789a", "committed", "2026-12-06", "01:00:00Z"],
            rows[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["-", "beef", "eth0", "underlay", "10.0.0.30/20", "eni-0c", "eth2", "pending", "2026-12-06", "01:01:00Z"],
            rows[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        // Columns line up: every row of a table starts its second column where the header's does.
        var header = lines.First(l => l.TrimStart().StartsWith("POD ", StringComparison.Ordinal));
        Assert.All(rows, r => Assert.Equal(header.IndexOf("CONTAINER", StringComparison.Ordinal), r.IndexOf(r.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], 3, StringComparison.Ordinal)));
    }

    [Fact]
    public void SubnetModesShowTheirLeaseAndTheirPodsAfterTheAllocations()
    {
        var status = Sample with
        {
            Subnets =
            [
                new SubnetStatus
                {
                    Mode = AllocationMode.HostGw, Subnet = "10.244.3.0/24", LeaseExpires = new DateTimeOffset(2026, 12, 6, 1, 4, 3, TimeSpan.Zero), Peers = 2,
                    Pods =
                    [
                        new SubnetPodStatus { Network = "fathom-host-gw", ContainerId = "a1b2c3d4e5f6a7b8", IfName = "eth0", Ip = "10.244.3.1", HostVeth = "fth1111111111a" },
                        new SubnetPodStatus { Network = "fathom-host-gw", ContainerId = "gone", IfName = "eth0", Ip = "10.244.3.2", HostVeth = "fth2222222222b", Releasing = true },
                    ],
                },
                new SubnetStatus { Mode = AllocationMode.Overlay, Unavailable = "no lease yet: etcd (http://10.0.0.5:2379) did not answer" },
            ],
        };
        var lines = AgentStatusCommand.Render(status, "/s").Split('\n');
        Assert.EndsWith("1 IP(s) cooling, 1 subnet pod(s)", lines[0], StringComparison.Ordinal);
        Assert.True(Array.IndexOf(lines, "SUBNETS") > Array.IndexOf(lines, "ALLOCATIONS"));
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["host-gw", "10.244.3.0/24", "2026-12-06", "01:04:03Z", "2", "1", "accepted"]);
        Assert.Contains(lines, l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["overlay", "(none", "yet)", "-", "0", "0", "refused:", ..]
                                    && l.EndsWith("refused: no lease yet: etcd (http://10.0.0.5:2379) did not answer", StringComparison.Ordinal));
        var pods = lines.SkipWhile(l => l != "SUBNET PODS").Skip(2).Where(l => l.Length > 0).ToList();
        Assert.Equal(["a1b2c3d4e5f6", "eth0", "host-gw", "10.244.3.1/32", "fth1111111111a", "committed"], pods[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["gone", "eth0", "host-gw", "10.244.3.2/32", "fth2222222222b", "releasing"], pods[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        // Without subnet modes the section is not there at all.
        Assert.DoesNotContain("SUBNETS", AgentStatusCommand.Render(Sample, "/s"));
    }

    [Fact]
    public void EmptyTablesSayNone()
    {
        var text = AgentStatusCommand.Render(new AgentStatus { AgentVersion = "1", Time = DateTimeOffset.UnixEpoch }, "/s");
        Assert.Equal(3, text.Split('\n').Count(l => l == "  (none)"));
    }

    [Fact]
    public void JsonIsTheStatusReplyOfTheProtocol()
    {
        var json = JsonNode.Parse(AgentStatusCommand.ToJson(Sample))!;
        Assert.Equal("status", (string?)json["reply"]);
        Assert.Equal(AgentProtocol.Version, (int)json["version"]!);
        Assert.Equal("0.9.0", (string?)json["status"]!["agentVersion"]);
        Assert.Equal(2, json["status"]!["allocations"]!.AsArray().Count);
        Assert.Equal("shared", (string?)json["status"]!["allocations"]![0]!["allocation"]!["mode"]);
        // It reads back as the protocol's own message.
        var reply = Assert.IsType<StatusReply>(AgentMessages.ParseReply(System.Text.Encoding.UTF8.GetBytes(AgentStatusCommand.ToJson(Sample))));
        Assert.Equal(Sample.Enis.Count, reply.Status.Enis.Count);
    }

    [Fact]
    public void NoAgentIsAFailureThatSaysSo()
    {
        var result = CtlRun.InProcess("status", "--socket", "/nonexistent/fathom/agent.sock");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("fathomctl status: ", result.Stderr);
        Assert.Contains("/nonexistent/fathom/agent.sock", result.Stderr);
    }

    [Fact]
    public void SocketAndNodeTogetherAreUsage()
    {
        var result = CtlRun.InProcess("status", "--socket", "/s", "--node", "node1");
        Assert.Equal(2, result.ExitCode);
    }

    /// <summary>Against a real fathom-agent (the one built next to the tests), as an operator runs it.</summary>
    [PrivilegedFact]
    public void TablesAndJsonOfARunningAgent()
    {
        var dir = Directory.CreateTempSubdirectory("fathomctl-status-");
        Process? agent = null;
        try
        {
            var socket = Path.Combine(dir.FullName, "run", "agent.sock");
            var config = Path.Combine(dir.FullName, "agent.json");
            File.WriteAllText(config, $$"""{ "socketPath": "{{socket}}", "stateDir": "{{dir.FullName}}/state", "metricsAddress": "" }""");
            agent = Process.Start(new ProcessStartInfo(CtlRun.Dotnet, [Path.Combine(AppContext.BaseDirectory, "fathom-agent.dll"), "--config", config])
            {
                UseShellExecute = false,
                RedirectStandardError = true,
            })!;
            agent.ErrorDataReceived += (_, _) => { };
            agent.BeginErrorReadLine();
            Eventually.True(() => File.Exists(socket), "the agent to listen");

            var tables = CtlRun.Process("status", "--socket", socket);
            Assert.True(tables.ExitCode == 0, tables.Stderr);
            Assert.StartsWith($"fathom-agent ", tables.Stdout);
            Assert.Contains($" at {socket}, ", tables.Stdout);
            foreach (var title in new[] { "POOLS", "ENIS", "ALLOCATIONS" }) Assert.Contains(title + "\n", tables.Stdout);
            Assert.Matches(@"\n  MODE\s+AVAILABLE\s+IN USE\s+COOLING\s+WARM TARGET\s+CAPACITY\n  underlay ", tables.Stdout);

            var json = CtlRun.Process("status", "--socket", socket, "--json");
            Assert.True(json.ExitCode == 0, json.Stderr);
            var reply = JsonNode.Parse(json.Stdout)!;
            Assert.Equal("status", (string?)reply["reply"]);
            Assert.NotNull(reply["status"]!["agentVersion"]);
            Assert.NotNull(reply["status"]!["pools"]);
        }
        finally
        {
            if (agent is not null)
            {
                try { agent.Kill(); } catch (InvalidOperationException) { }
                agent.WaitForExit();
                agent.Dispose();
            }
            dir.Delete(recursive: true);
        }
    }
}
