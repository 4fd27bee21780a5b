using System.Diagnostics;
using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Cloud.Host.Tests.Support;
using Fathom.Plugin.Tests.Harness;
using Xunit.Abstractions;

namespace Fathom.Cloud.Host.Tests;

/// <summary>
/// The published <c>fathom-agent</c> with <c>cloud.provider host</c>, run in a throwaway node netns,
/// serving the published <c>fathom</c> run as a runtime runs it (env + stdin): pods get whole host
/// NICs, one plugged after the agent started included, with static or DHCP addresses.
/// </summary>
public sealed class HostProviderAgentTests(ITestOutputHelper output)
{
    private static string AgentBinary => Path.Combine(Repository.Bin, "fathom-agent");

    private const string Pools = """
        "pools":{"cluster":"fc","nodeName":"fc-node","warmEnis":1,"warmIps":0,"defaultMode":"underlay",
                 "mtu":1500,
                 "refillIntervalSeconds":3600,"reconcileIntervalSeconds":3600,"allocateTimeoutSeconds":10}
        """;

    private const string SharedPools = """
        "pools":{"cluster":"fc","nodeName":"fc-node","warmEnis":0,"warmIps":1,"defaultMode":"shared","mtu":1500,
                 "refillIntervalSeconds":3600,"reconcileIntervalSeconds":3600,"allocateTimeoutSeconds":10}
        """;

    [PrivilegedFact("ping")]
    public void Pods_get_static_host_NICs_and_a_NIC_plugged_later_joins_the_pool_without_a_restart()
    {
        Privileged.Require("ping");
        CniExec.RequireBuilt();
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        using var agent = AgentProcess.Start(bed, """
            {"names":["eth1","eth2"],"nics":[{"name":"eth1","address":"10.77.0.11/24","gateway":"10.77.0.1"},
                                             {"mac":"02:77:00:00:00:02","address":"10.77.0.12/24"}]}
            """);

        using var pod1 = bed.Pod();
        var first = Add(bed, agent, pod1, "ctr-1");
        Assert.Equal("10.77.0.11/24", (string?)first["ips"]![0]!["address"]);
        AssertPodNetworked(pod1, "10.77.0.11/24");

        // Hot-plug: the agent hears of it from a link event (its refill and reconcile intervals are an hour) and pools it.
        bed.Plug("eth2", 2);
        var plugged = Stopwatch.StartNew();
        Eventually.True(() => agent.Status().Enis.Any(e => e.EniId == "nic-027700000002" && e.HostDevice == "eth2"),
            "the NIC plugged after the agent started is in the pool", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(10));
        output.WriteLine($"hot-plugged NIC pooled after {plugged.Elapsed.TotalMilliseconds:0} ms");
        using var pod2 = bed.Pod();
        Assert.Equal("10.77.0.12/24", (string?)Add(bed, agent, pod2, "ctr-2")["ips"]![0]!["address"]);
        AssertPodNetworked(pod2, "10.77.0.12/24");

        // DEL gives eth1 back to the node; unplugged there, it leaves the pool.
        CniExec.Run(bed.Node.Name, CniExec.Fathom, new CniCall("DEL", "ctr-1", pod1.Path, "eth0", "/usr/lib/cni"), agent.NetworkConfig()).EnsureSuccess();
        Eventually.True(() => Shell.Run("ip", ["-n", bed.Node.Name, "link", "show", "eth1"]).ExitCode == 0, "eth1 back in the node", TimeSpan.FromSeconds(30));
        bed.Unplug(1);
        Eventually.True(() => agent.Status().Enis.All(e => e.EniId != "nic-027700000001"), "the unplugged NIC leaves the pool", TimeSpan.FromSeconds(30));
        Assert.Contains(agent.Status().Allocations, a => a.ContainerId == "ctr-2" && a.Allocation.EniId == "nic-027700000002");
    }

    [PrivilegedFact]
    public void After_a_SIGKILL_the_restarted_agent_still_pools_the_NIC_a_pod_holds_and_its_DEL_gives_it_back()
    {
        Privileged.Require();
        CniExec.RequireBuilt();
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        bed.Plug("eth2", 2);
        const string host = """{"pattern":"eth?","nics":[{"name":"eth1","address":"10.77.0.11/24"},{"name":"eth2","address":"10.77.0.12/24"}]}""";
        using var pod = bed.Pod();
        using (var agent = AgentProcess.Start(bed, host))
        {
            Assert.Equal("10.77.0.11/24", (string?)Add(bed, agent, pod, "ctr-1")["ips"]![0]!["address"]);
            Eventually.True(() => agent.Status().Enis.Any(e => e.EniId == "nic-027700000002" && e.Use == "warm"), "eth2 warm", TimeSpan.FromSeconds(30));
            agent.Kill();
        }

        // eth1 is in the pod, out of the node's sight: only the claims file says it is the pool's.
        using var restarted = AgentProcess.Start(bed, host);
        var enis = restarted.Status().Enis;
        Assert.Contains(enis, e => e.EniId == "nic-027700000001" && e.Use == "exclusive");
        Assert.Contains(enis, e => e.EniId == "nic-027700000002" && e.Use == "warm");
        CniExec.Run(bed.Node.Name, CniExec.Fathom, new CniCall("DEL", "ctr-1", pod.Path, "eth0", "/usr/lib/cni"), restarted.NetworkConfig()).EnsureSuccess();
        Eventually.True(() => restarted.Status().Enis.Any(e => e.EniId == "nic-027700000001" && e.Use == "warm" && e.HostDevice == "eth1"),
            "eth1 back in the node and warm", TimeSpan.FromSeconds(30));
    }

    [PrivilegedFact("ping", "dnsmasq", "dhclient")]
    public void A_pod_gets_a_host_NIC_addressed_by_DHCP()
    {
        Privileged.Require("ping", "dnsmasq", "dhclient");
        CniExec.RequireBuilt();
        using var bed = HostNicBed.Create();
        bed.Plug("ens5", 5);
        bed.ServeDhcp((5, "10.77.0.65"));
        using var agent = AgentProcess.Start(bed, """{"pattern":"ens*","defaultAddress":"dhcp","dhcpTimeoutSeconds":15}""");

        using var pod = bed.Pod();
        var add = Stopwatch.StartNew();
        var result = Add(bed, agent, pod, "ctr-dhcp");
        output.WriteLine($"first ADD right after the agent started (the NIC leased by DHCP meanwhile) took {add.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal("10.77.0.65/24", (string?)result["ips"]![0]!["address"]);
        Assert.Equal(HostNicBed.Gateway, (string?)result["ips"]![0]!["gateway"]);
        AssertPodNetworked(pod, "10.77.0.65/24");
    }

    [PrivilegedFact("ping")]
    public void A_shared_pod_gets_a_configured_secondary_address_of_a_host_NIC_and_reaches_the_gateway()
    {
        Privileged.Require("ping");
        CniExec.RequireBuilt();
        using var bed = HostNicBed.Create();
        bed.Plug("eth1", 1);
        using var agent = AgentProcess.Start(bed, """
            {"names":["eth1"],"nics":[{"name":"eth1","address":"10.77.0.11/24","secondaryAddresses":["10.77.0.21","10.77.0.22"]}]}
            """, SharedPools);

        using var pod = bed.Pod();
        var result = CniExec.Run(bed.Node.Name, CniExec.Fathom, new CniCall("ADD", "ctr-shared", pod.Path, "eth0", "/usr/lib/cni"),
            agent.NetworkConfig("shared")).Result;
        Assert.Equal("10.77.0.21/32", (string?)result["ips"]![0]!["address"]);
        // Out through eth1's table to the segment's router, and back: the node answers ARP for the pod's address on eth1.
        var ping = Shell.Exec(pod.Name, "ping", "-c", "1", "-W", "5", HostNicBed.Gateway);
        Assert.True(ping.ExitCode == 0, $"the shared pod cannot reach the gateway: {ping.Stdout} {ping.Stderr} {agent.Log()}");

        // Unplugged under its shared pod: the NIC leaves the pool, the pod's allocation stays in status until its DEL.
        bed.Unplug(1);
        Eventually.True(() => agent.Status().Enis.All(e => e.EniId != "nic-027700000001"), "the unplugged NIC leaves the pool", TimeSpan.FromSeconds(30));
        Assert.Contains(agent.Status().Allocations, a => a.ContainerId == "ctr-shared" && a.Allocation.EniId == "nic-027700000001");
        CniExec.Run(bed.Node.Name, CniExec.Fathom, new CniCall("DEL", "ctr-shared", pod.Path, "eth0", "/usr/lib/cni"), agent.NetworkConfig("shared")).EnsureSuccess();
        Assert.Empty(agent.Status().Allocations);
    }

    [Theory]
    [InlineData("""{"provider":"host","host":{"nics":[]}}""", "cloud.host has no selector: set one of names, macs or pattern")]
    [InlineData("""{"provider":"host","host":{"names":["eth1"],"nics":[{"name":"eth1","address":"10.77.0.311/24"}]}}""",
        "cloud.host.nics[0].address '10.77.0.311/24' is not an IPv4 address with its prefix length")]
    [InlineData("""{"provider":"vsphere"}""", "cloud.provider 'vsphere' is not one this agent knows (aws, host)")]
    [InlineData("""{"provider":"host"}""", "cloud.provider is host but cloud.host is missing")]
    [InlineData("""{"provider":"host","serviceUrl":"http://127.0.0.1:1","host":{"pattern":"eth*","defaultAddress":"dhcp"}}""",
        "cloud.provider host calls no cloud")]
    public void A_bad_host_config_stops_the_agent_at_start_with_a_clear_error(string cloud, string expected)
    {
        Assert.True(File.Exists(AgentBinary), $"{AgentBinary} does not exist: run ./build.sh");
        var dir = Path.Combine(Path.GetTempPath(), $"{TestNetns.Prefix}hostcfg-{Guid.NewGuid():N}"[..32]);
        Directory.CreateDirectory(dir);
        try
        {
            var path = Path.Combine(dir, "agent.json");
            File.WriteAllText(path, $$"""{"stateDir":"{{dir}}/state","socketPath":"{{dir}}/agent.sock","cloud":{{cloud}},{{Pools}}}""");
            var run = Shell.Run(AgentBinary, ["--config", path]);
            Assert.Equal(2, run.ExitCode);
            Assert.Contains($"fathom-agent: {path}: {expected}", run.Stderr, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(dir, "state")), "a refused config must leave nothing behind");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static JsonObject Add(HostNicBed bed, AgentProcess agent, TestNetns pod, string containerId) =>
        CniExec.Run(bed.Node.Name, CniExec.Fathom, new CniCall("ADD", containerId, pod.Path, "eth0", "/usr/lib/cni"), agent.NetworkConfig()).Result;

    private static void AssertPodNetworked(TestNetns pod, string address)
    {
        Assert.Contains(address, Shell.IpIn(pod.Name, "-4", "addr", "show", "dev", "eth0"), StringComparison.Ordinal);
        Assert.Contains($"default via {HostNicBed.Gateway} dev eth0", Shell.IpIn(pod.Name, "-4", "route", "show"), StringComparison.Ordinal);
        var ping = Shell.Exec(pod.Name, "ping", "-c", "1", "-W", "5", HostNicBed.Gateway);
        Assert.True(ping.ExitCode == 0, $"the pod cannot reach its gateway: {ping.Stdout} {ping.Stderr}");
    }

    /// <summary>fathom-agent in the bed's node netns, its config and log in the bed's directory; stopped (SIGTERM, then SIGKILL) on dispose.</summary>
    private sealed class AgentProcess : IDisposable
    {
        private readonly Process _process;
        private readonly string _dir;

        private AgentProcess(Process process, string dir)
        {
            _process = process;
            _dir = dir;
        }

        private string Socket => Path.Combine(_dir, "agent.sock");
        private string LogPath => Path.Combine(_dir, "agent.log");

        public static AgentProcess Start(HostNicBed bed, string host, string pools = Pools)
        {
            Assert.True(File.Exists(AgentBinary), $"{AgentBinary} does not exist: run ./build.sh");
            var dir = bed.Dir;
            File.WriteAllText(Path.Combine(dir, "agent.json"), $$"""
                {"socketPath":"{{dir}}/agent.sock","stateDir":"{{dir}}/state","metricsAddress":"","logLevel":"debug",
                 "cloud":{"provider":"host","host":{{host}}},{{pools}}}
                """);
            // exec all the way down: the pid is the agent's, so the test stops exactly what it started.
            var psi = new ProcessStartInfo("sh")
            {
                ArgumentList = { "-c", $"exec ip netns exec {bed.Node.Name} {AgentBinary} --config {dir}/agent.json 2>{dir}/agent.log" },
                UseShellExecute = false,
            };
            var agent = new AgentProcess(Process.Start(psi) ?? throw new InvalidOperationException("cannot start fathom-agent"), dir);
            try
            {
                // Serving = answering status (a socket file may be left from an agent killed before).
                Eventually.True(() => agent._process.HasExited || agent.TryStatus(), "fathom-agent serving", TimeSpan.FromSeconds(30));
                if (agent._process.HasExited)
                    Assert.Fail($"fathom-agent exited {agent._process.ExitCode}: {agent.Log()}");
                return agent;
            }
            catch
            {
                agent.Dispose();
                throw;
            }
        }

        public JsonObject NetworkConfig(string mode = "underlay") => (JsonObject)JsonNode.Parse($$"""
            {"cniVersion":"1.1.0","name":"host-net","type":"fathom","mode":"{{mode}}","agentSocket":"{{Socket}}","dataDir":"{{_dir}}/data"}
            """)!;

        public AgentStatus Status() => new AgentClient(Socket).Status();

        private bool TryStatus()
        {
            try
            {
                Status();
                return true;
            }
            catch (AgentException)
            {
                return false;
            }
        }

        /// <summary>SIGKILL, as an OOM kill or a crash would stop it.</summary>
        public void Kill()
        {
            _process.Kill();
            _process.WaitForExit();
        }

        public string Log() => File.Exists(LogPath) ? File.ReadAllText(LogPath) : "";

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                Shell.Run("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                if (!_process.WaitForExit(10_000)) _process.Kill();
                _process.WaitForExit();
            }
            _process.Dispose();
        }
    }
}
