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

    public LabState State { get; } = null!;

    public CriLabFixture()
    {
        if (Privileged.MissingPrerequisite(Tools) is not null || !File.Exists(Repository.Plugin)) return;
        LabControl.Down(TestLab.Layout);
        try
        {
            State = TestLab.Up(new LabOptions { Nodes = 2, InstanceType = "t3.medium" });
            foreach (var node in State.Nodes)
                LabContainerd.Start(TestLab.Layout, node, Repository.Plugin);
        }
        catch
        {
            LabControl.Down(TestLab.Layout);
            throw;
        }
    }

    public void Dispose()
    {
        if (State is not null) LabControl.Down(TestLab.Layout);
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
        Privileged.Require(CriLabFixture.Tools);
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
    }
}
