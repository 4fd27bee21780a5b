using System.Text.Json.Nodes;
using Fathom.Agent;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Fathom.Agent.Subnets;
using Fathom.Netlink;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Agent;

/// <summary>
/// <c>"mode": "host-gw"</c> and <c>"mode": "overlay"</c> through the published binary, against the
/// agent's real subnet modes (<see cref="SubnetModes"/>: an embedded store, the lease, the durable
/// addresses) on a real socket, on the real kernel: ADD wires a veth with the node subnet's
/// address at the mode's MTU, CHECK verifies it and names what drifted, DEL only releases and the
/// agent deletes the veth in the background, a second DEL is fine.
/// </summary>
public sealed class SubnetModesTests
{
    private static JsonObject WithPrev(JsonObject config, JsonObject result)
    {
        var copy = (JsonObject)config.DeepClone();
        copy["prevResult"] = result.DeepClone();
        return copy;
    }

    [PrivilegedTheory("ip")]
    [InlineData("host-gw", UnderlayBed.DeviceMtu)]
    [InlineData("overlay", UnderlayBed.DeviceMtu - 50)]
    public async Task ADD_CHECK_DEL_through_the_agents_subnet_mode(string mode, int mtu)
    {
        using var t = AgentBed.Create();
        var state = Directory.CreateTempSubdirectory($"{TestNetns.Prefix}subnets-").FullName;
        using var stateDirectory = StateDirectory.Open(state, syncWrites: false);
        using var host = Netns.Open(t.Bed.Host.Path);
        var datastore = new SubnetDatastoreConfig { ClusterCidr = "10.244.0.0/16", Directory = Path.Combine(state, "store") };
        var modes = SubnetModes.Start(new SubnetConfig
        {
            NodeName = "n1", NodeIp = FakeAgent.NodeIp, FabricDevice = UnderlayBed.Device,
            HostGw = mode == "host-gw" ? new HostGwSection { Datastore = datastore } : null,
            Overlay = mode == "overlay" ? new OverlaySection { Datastore = datastore } : null,
        }, stateDirectory, null, AgentLog.None, node: host)!;
        var socket = Path.Combine(state, "subnets.sock");
        var listener = AgentListener.Start(socket, modes.Serve(t.Agent));
        try
        {
            var config = t.Config(mode: mode);
            config["agentSocket"] = socket;
            var add = t.Run("ADD", config).Result;
            Assert.Equal("10.244.0.1/32", (string)add["ips"]![0]!["address"]!);
            Assert.Equal("169.254.1.1", (string)add["ips"]![0]!["gateway"]!);
            var eth0 = KernelState.Read(t.Bed.Pod.Name).Link("eth0")!;
            Assert.Equal("10.244.0.1/32", eth0.Addresses);
            Assert.Equal(mtu, eth0.Mtu);
            var hostVeth = (string)add["interfaces"]![1]!["name"]!;
            Assert.Contains($"10.244.0.1 dev {hostVeth}", Shell.IpIn(t.Bed.Host.Name, "route", "show"));

            t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();

            // A retried ADD of the same attachment is refused by the kernel (eth0 exists): 103, and the address stays held.
            Assert.Equal(103, t.Run("ADD", config).ErrorCode);
            t.Run("CHECK", WithPrev(config, add)).EnsureSuccess();

            t.Run("DEL", WithPrev(config, add)).EnsureSuccess();
            Eventually.True(() => KernelState.Read(t.Bed.Host.Name).Link(hostVeth) is null, "the agent deleted the veth");
            Assert.Equal(3, t.Run("CHECK", WithPrev(config, add)).ErrorCode);
            t.Run("DEL", WithPrev(config, add)).EnsureSuccess();

            // The next pod gets the address back once the veth is gone; CHECK names a veth deleted by hand.
            var again = t.Run("ADD", config).Result;
            Assert.Equal("10.244.0.1/32", (string)again["ips"]![0]!["address"]!);
            Shell.IpIn(t.Bed.Host.Name, "link", "del", hostVeth);
            var drift = t.Run("CHECK", WithPrev(config, again));
            Assert.Equal(107, drift.ErrorCode);
            Assert.Contains(hostVeth, drift.ErrorMessage);
        }
        finally
        {
            await listener.DisposeAsync();
            await modes.DisposeAsync();
            Directory.Delete(state, recursive: true);
        }
    }
}
