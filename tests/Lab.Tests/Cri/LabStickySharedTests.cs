using System.Diagnostics;
using Amazon.EC2;
using Amazon.EC2.Model;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Fathom.Lab.Cri;
using Fathom.Lab.Tests.Control;
using Xunit.Abstractions;
using static Fathom.Lab.Tests.Cri.StickyLab;

namespace Fathom.Lab.Tests.Cri;

/// <summary>
/// Issue 11 §3 for shared mode, in the lab, as a runtime runs it: containerd's CRI on two nodes whose
/// agents declare <c>db/web-*</c> sticky. <c>web-0</c> (shared mode) deleted on node1 and started on
/// node2 keeps its secondary IP: the lab's EC2 moved it to node2's ENI (AllowReassignment) and the VPC
/// fabric now delivers it there, so a client pod that kept the address reaches it, and so does node1
/// across the VPC. Moved back and left away past the retention, the IP goes back to node1's pool,
/// untagged, still on node1's ENI. One answer in five of the lab's EC2 to the agents is lost (the call
/// took effect; the agent must find out what happened), while the test reads the cloud with the lab's
/// observer key, which no fault meets.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabStickySharedTests(ITestOutputHelper output)
{
    private static readonly TimeSpan CriTimeout = TimeSpan.FromSeconds(60);
    private const int RetentionSeconds = 8;
    private const string TagKey = "fathom.io/sticky-ip/db/web-0";

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "containerd", "ctr", "runc", "nsenter", "unshare")]
    public async Task AStickySharedPodKeepsItsIpOnAnotherNodeAndTheIpGoesBackToThePoolAfterTheRetention()
    {
        Assert.True(File.Exists(Repository.Plugin), $"no plugin at {Repository.Plugin} (./build.sh, or FATHOM_PLUGIN)");
        LabControl.Down(TestLab.Layout);
        try
        {
            var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "m5.xlarge", Faults = "lost=0.2" });
            using var lab = LabStickyNodes.Start(state, RetentionSeconds, CriTimeout);
            var (ec2, node1, node2) = (lab.Ec2, lab.Node1, lab.Node2);
            CriPodSpec Web0(string parent) => LabStickyNodes.Web0(parent, "shared");
            var node1Netns = TestLab.Layout.NodeNetns(1);

            // A client on node2 that keeps web-0's address, and web-0 on node1.
            var (client, clientNetns) = await lab.StartClientAsync();
            var web = await node1.RunPodSandboxAsync(Web0(lab.Parent1));
            var ip = (await node1.PodSandboxStatusAsync(web)).Ip;
            var eni1 = SharedEniOf("node1");
            AssertReaches(clientNetns, ip, "the client on node2", "before the move");
            Eventually.True(() => HolderOf(ec2, ip) is { } h && h.TagSet.Any(t => t.Key == TagKey), "web-0's IP tagged on node1's ENI", TimeSpan.FromSeconds(10));

            // Deleted on node1, started on node2: the same IP, now on node2's ENI; reached at the old address.
            await RemoveAsync(node1, web);
            Eventually.True(() => Logged("node1", "sticky.retained"), "node1's agent to retain web-0's IP", TimeSpan.FromSeconds(20));
            var moved = Stopwatch.StartNew();
            web = await node2.RunPodSandboxAsync(Web0(lab.Parent2));
            moved.Stop();
            Assert.Equal(ip, (await node2.PodSandboxStatusAsync(web)).Ip);
            var eni2 = SharedEniOf("node2");
            Assert.NotEqual(eni1, eni2);
            Assert.Equal(eni2, HolderOf(ec2, ip)?.NetworkInterfaceId);
            AssertReaches(clientNetns, ip, "the client on node2", "after the move");
            AssertReaches(node1Netns, ip, "node1, across the VPC,", "after the move");
            output.WriteLine($"moved sticky shared start (RunPodSandbox on node2, the IP's reassignment included): {moved.ElapsedMilliseconds} ms");
            Eventually.True(() => Logged("node1", "sticky.forgotten"), "node1's agent to forget the IP node2 took", TimeSpan.FromSeconds(10));
            Assert.Single(Tagged(ec2));

            // Back to node1, then away past the retention: the IP is node1's pool's again, untagged, never unassigned.
            await RemoveAsync(node2, web);
            Eventually.True(() => Logged("node2", "sticky.retained"), "node2's agent to retain web-0's IP", TimeSpan.FromSeconds(20));
            web = await node1.RunPodSandboxAsync(Web0(lab.Parent1));
            Assert.Equal(ip, (await node1.PodSandboxStatusAsync(web)).Ip);
            await RemoveAsync(node1, web);
            Eventually.True(() => Logged("node1", "sticky.expired"), $"web-0's IP to expire on node1 after the retention ({RetentionSeconds} s)",
                TimeSpan.FromSeconds(RetentionSeconds + 20));
            Assert.Empty(Tagged(ec2));
            var holder = HolderOf(ec2, ip);
            Assert.Equal(state.Nodes[0].InstanceId, holder?.Attachment?.InstanceId);
            await RemoveAsync(node2, client);
        }
        finally
        {
            LabControl.Down(TestLab.Layout);
        }
    }

    private static string SharedEniOf(string node)
    {
        var held = Assert.Single(StatusOf(node).Allocations, a => a.Pod?.Namespace == "db" && a.Pod.Name == "web-0");
        return Assert.IsType<SharedAllocation>(held.Allocation).EniId;
    }

    private static List<NetworkInterface> All(IAmazonEC2 ec2) =>
        ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest()).GetAwaiter().GetResult().NetworkInterfaces;

    /// <summary>The ENI holding <paramref name="ip"/> as a secondary address; the assertion that there is one at most.</summary>
    private static NetworkInterface? HolderOf(IAmazonEC2 ec2, string ip) =>
        Assert.Single(All(ec2).Where(e => e.PrivateIpAddresses?.Any(p => p.PrivateIpAddress == ip && p.Primary != true) == true).DefaultIfEmpty());

    private static List<NetworkInterface> Tagged(IAmazonEC2 ec2) => [.. All(ec2).Where(e => e.TagSet?.Any(t => t.Key == TagKey) == true)];
}
