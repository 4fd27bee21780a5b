using System.Net;
using System.Net.Sockets;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Fathom.Lab.Cri;
using Fathom.Lab.Tests.Control;
using Fathom.Netlink;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Cri;

/// <summary>
/// One lab (2 × t3.medium, agents) with containerd in both nodes, for the CRI tests: brought up
/// once, taken down (containerd, its sandboxes, their netns and cgroups with it) whatever happens.
/// </summary>
public sealed class CriLabFixture : IDisposable
{
    public static readonly string[] Tools = ["ip", "dnsmasq", "dhclient", "containerd", "ctr", "runc", "nsenter", "unshare"];

    private LabState? _state;

    /// <summary>
    /// The lab, brought up by the first test that asks: other classes of the collection bring their
    /// own lab up and down with this prefix, and may run after this fixture was made.
    /// </summary>
    public LabState State
    {
        get
        {
            if (_state is not null) return _state;
            Privileged.Require(Tools);
            Assert.True(File.Exists(Repository.Plugin), $"no plugin at {Repository.Plugin} (./build.sh, or FATHOM_PLUGIN)");
            LabControl.Down(TestLab.Layout);
            try
            {
                var state = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.medium" });
                foreach (var node in state.Nodes)
                    LabContainerd.Start(TestLab.Layout, node, Repository.Plugin);
                return _state = state;
            }
            catch
            {
                LabControl.Down(TestLab.Layout);
                throw;
            }
        }
    }

    public void Dispose()
    {
        if (_state is not null) LabControl.Down(TestLab.Layout);
    }
}

/// <summary>
/// Issue 11 §1: containerd's CRI drives Fathom as the kubelet does. RunPodSandbox runs the installed
/// <c>fathom</c> (ADD, with K8S_POD_* in CNI_ARGS), PodSandboxStatus reports the IP Fathom gave,
/// StopPodSandbox and RemovePodSandbox run its two DELs, and the pools come back whole.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class CriSandboxTests(CriLabFixture lab, ITestOutputHelper output) : IClassFixture<CriLabFixture>
{
    private static readonly TimeSpan CriTimeout = TimeSpan.FromSeconds(90);

    private static AgentStatus StatusOf(string node) =>
        new AgentClient(TestLab.Layout.AgentSocket(node), TimeSpan.FromSeconds(5)).Status();

    private static CriClient Cri(string node) => new(LabContainerd.Socket(TestLab.Layout, node), CriTimeout);

    private CriPodSpec Pod(string node, string name, string mode) =>
        new("team-a", name, Guid.NewGuid().ToString(), LabContainerd.For(TestLab.Layout, lab.State.Nodes.Single(n => n.Name == node)).CgroupParent, mode);

    /// <summary>The netns (in /run/netns) whose eth0 has <paramref name="ip"/>: the sandbox's, as containerd made it.</summary>
    private static string? NetnsWithIp(string ip)
    {
        foreach (var file in Directory.EnumerateFiles(Netns.RunDirectory, "cni-*"))
        {
            try
            {
                using var ns = Netns.Open(file);
                using var links = NetlinkHandle.OpenIn(ns);
                if (links.TryGetLink("eth0", out var eth0) &&
                    links.ListAddresses(AddressFamily.InterNetwork, eth0.Index).Any(a => a.Prefix.Address.ToString() == ip))
                    return Path.GetFileName(file);
            }
            catch (NetlinkException) { }
        }
        return null;
    }

    private static void AssertPoolsWhole(string node, IReadOnlySet<string> enisBefore)
    {
        AgentStatus status = null!;
        Eventually.True(() =>
        {
            status = StatusOf(node);
            return status.Allocations.Count == 0 && status.PendingTeardowns == 0 && status.Pools.All(p => p.InUse == 0);
        }, $"{node}'s agent to hold no allocation and no pending teardown", TimeSpan.FromSeconds(30));
        var enis = status.Enis.Select(e => e.EniId).ToHashSet();
        Assert.True(enisBefore.IsSubsetOf(enis), $"{node} lost ENIs: {string.Join(", ", enisBefore.Except(enis))}");
        Assert.All(status.Enis.Where(e => e.DeviceIndex > 0), e => Assert.NotNull(e.HostDevice));
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "containerd", "ctr", "runc", "nsenter", "unshare")]
    public async Task ASandboxPerModeGetsItsEniOrIpNamedByThePodAndReachesASandboxOnTheOtherNode()
    {
        Assert.NotNull(lab.State);
        using var node1 = Cri("node1");
        using var node2 = Cri("node2");
        var version = await node1.VersionAsync();
        Assert.Equal("containerd", version.RuntimeName);
        Assert.Equal("v1", version.RuntimeApiVersion);

        var enis1 = StatusOf("node1").Enis.Select(e => e.EniId).ToHashSet();
        foreach (var mode in LabContainerd.Modes)
        {
            var web = Pod("node1", $"web-{mode}", mode);
            var peer = Pod("node2", $"peer-{mode}", mode);
            var webId = await node1.RunPodSandboxAsync(web);
            var peerId = await node2.RunPodSandboxAsync(peer);
            try
            {
                var webStatus = await node1.PodSandboxStatusAsync(webId);
                var peerStatus = await node2.PodSandboxStatusAsync(peerId);
                output.WriteLine($"{mode}: {web.Name} {webStatus.Ip} on node1, {peer.Name} {peerStatus.Ip} on node2");
                Assert.True(webStatus.Ready);
                Assert.Equal((web.Namespace, web.Name, web.Uid), (webStatus.Namespace, webStatus.Name, webStatus.Uid));

                // The agent holds the pod under its Kubernetes name, with the IP PodSandboxStatus reports.
                var allocation = Assert.Single(StatusOf("node1").Allocations, a => a.Pod?.Name == web.Name);
                Assert.Equal(new PodIdentity { Namespace = web.Namespace, Name = web.Name, Uid = web.Uid }, allocation.Pod);
                Assert.Equal(webId, allocation.ContainerId);
                Assert.Equal(allocation.Allocation.Ip, webStatus.Ip);
                Assert.Equal(mode == "underlay" ? typeof(UnderlayAllocation) : typeof(SharedAllocation), allocation.Allocation.GetType());

                var webNetns = NetnsWithIp(webStatus.Ip);
                Assert.NotNull(webNetns);
                var ping = Shell.Run("ip", ["netns", "exec", webNetns!, "ping", "-c", "1", "-W", "3", peerStatus.Ip]);
                Assert.True(ping.ExitCode == 0, $"{web.Name} ({webStatus.Ip}) reaches {peer.Name} ({peerStatus.Ip}): {ping.Stdout}{ping.Stderr}");
            }
            finally
            {
                foreach (var (cri, id) in new[] { (node1, webId), (node2, peerId) })
                {
                    await cri.StopPodSandboxAsync(id);
                    await cri.RemovePodSandboxAsync(id);
                }
            }
        }
        AssertPoolsWhole("node1", enis1);

        // §2: the agent's log names the pod with each allocation and release.
        var log = File.ReadAllLines(TestLab.Layout.AgentLog("node1"));
        Assert.Contains(log, l => l.Contains("\"event\":\"allocation.granted\"", StringComparison.Ordinal) && l.Contains("\"pod\":\"team-a/web-underlay\"", StringComparison.Ordinal));
        Assert.Contains(log, l => l.Contains("\"event\":\"allocation.released\"", StringComparison.Ordinal) && l.Contains("\"pod\":\"team-a/web-shared\"", StringComparison.Ordinal));
    }

    /// <summary>The sandboxes' cgroups under the node's cgroup parent (in the memory hierarchy: one per sandbox).</summary>
    private IReadOnlyList<string> SandboxCgroups(string node)
    {
        var parent = Path.Combine("/sys/fs/cgroup/memory", LabContainerd.For(TestLab.Layout, lab.State.Nodes.Single(n => n.Name == node)).CgroupParent.TrimStart('/'));
        return Directory.Exists(parent) ? [.. Directory.EnumerateDirectories(parent).Select(Path.GetFileName)!] : [];
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "containerd", "ctr", "runc", "nsenter", "unshare")]
    public async Task StopAndRemoveRunBothDelsAndLeaveNothingBehindWhileANeighbourKeepsItsNetwork()
    {
        Assert.NotNull(lab.State);
        using var node1 = Cri("node1");
        var enis = StatusOf("node1").Enis.Select(e => e.EniId).ToHashSet();
        var cgroupsBefore = SandboxCgroups("node1");

        var neighbour = await node1.RunPodSandboxAsync(Pod("node1", "neighbour", "shared"));
        var neighbourIp = (await node1.PodSandboxStatusAsync(neighbour)).Ip;
        foreach (var mode in LabContainerd.Modes)
        {
            var pod = Pod("node1", $"short-lived-{mode}", mode);
            var id = await node1.RunPodSandboxAsync(pod);
            var ip = (await node1.PodSandboxStatusAsync(id)).Ip;
            var netns = NetnsWithIp(ip);
            Assert.NotNull(netns);
            Assert.Contains(id, SandboxCgroups("node1"));

            // Stop: DEL with the netns and prevResult; the allocation goes, the netns and the pause container too.
            await node1.StopPodSandboxAsync(id);
            Assert.DoesNotContain(StatusOf("node1").Allocations, a => a.ContainerId == id);
            Assert.False(File.Exists(Path.Combine(Netns.RunDirectory, netns!)), $"{netns} survived StopPodSandbox");
            Assert.False((await node1.PodSandboxStatusAsync(id)).Ready);

            // Remove: containerd's second DEL, without netns or prevResult, must succeed and touch nothing else.
            await node1.RemovePodSandboxAsync(id);
            await node1.RemovePodSandboxAsync(id); // idempotent, as the kubelet expects
            var gone = await Assert.ThrowsAsync<CriException>(() => node1.PodSandboxStatusAsync(id));
            Assert.Equal(Grpc.Core.StatusCode.NotFound, gone.Code);
            Assert.DoesNotContain(id, SandboxCgroups("node1"));

            var held = Assert.Single(StatusOf("node1").Allocations);
            Assert.Equal(neighbour, held.ContainerId);
            var neighbourNetns = NetnsWithIp(neighbourIp)!;
            var ping = Shell.Run("ip", ["netns", "exec", neighbourNetns, "ping", "-c", "1", "-W", "3", lab.State.Nodes[1].PrimaryIp]);
            Assert.True(ping.ExitCode == 0, $"the neighbour lost its network after {mode}'s Remove: {ping.Stdout}{ping.Stderr}");
        }
        await node1.StopPodSandboxAsync(neighbour);
        await node1.RemovePodSandboxAsync(neighbour);
        Assert.Equal(cgroupsBefore, SandboxCgroups("node1"));
        AssertPoolsWhole("node1", enis);
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "containerd", "ctr", "runc", "nsenter", "unshare")]
    public async Task TwentySandboxesCreatedAndRemovedConcurrentlyLeaveThePoolsWhole()
    {
        Assert.NotNull(lab.State);
        var nodes = new[] { "node1", "node2" };
        var enis = nodes.ToDictionary(n => n, n => StatusOf(n).Enis.Select(e => e.EniId).ToHashSet());
        var clients = nodes.ToDictionary(n => n, Cri);
        try
        {
            // 10 per node: a t3.medium holds 3 × (6 − 1) = 15 shared pods.
            var pods = Enumerable.Range(0, 20).Select(i => (Node: nodes[i % 2], Spec: Pod(nodes[i % 2], $"churn-{i}", "shared"))).ToList();
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var ids = await Task.WhenAll(pods.Select(p => clients[p.Node].RunPodSandboxAsync(p.Spec)));
            var created = watch.Elapsed;
            var ips = await Task.WhenAll(pods.Select((p, i) => clients[p.Node].PodSandboxStatusAsync(ids[i])));
            Assert.All(ips, s => Assert.NotEmpty(s.Ip));
            Assert.Equal(20, ips.Select(s => s.Ip).Distinct().Count());
            foreach (var node in nodes)
                Assert.Equal(10, StatusOf(node).Allocations.Count(a => a.Pod?.Namespace == "team-a" && a.Pod.Name.StartsWith("churn-", StringComparison.Ordinal)));

            watch.Restart();
            await Task.WhenAll(pods.Select(async (p, i) =>
            {
                await clients[p.Node].StopPodSandboxAsync(ids[i]);
                await clients[p.Node].RemovePodSandboxAsync(ids[i]);
            }));
            output.WriteLine($"20 sandboxes: RunPodSandbox all in {created.TotalSeconds:0.0} s, Stop+Remove all in {watch.Elapsed.TotalSeconds:0.0} s");
            foreach (var node in nodes) AssertPoolsWhole(node, enis[node]);
            Assert.All(ips, s => Assert.Null(NetnsWithIp(s.Ip)));
        }
        finally
        {
            foreach (var client in clients.Values) client.Dispose();
        }
    }
}
