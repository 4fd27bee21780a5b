using Amazon.EC2;
using Fathom.Lab.Control;
using Fathom.Lab.Cri;
using Fathom.Lab.Tests.Control;
using static Fathom.Lab.Tests.Cri.StickyLab;

namespace Fathom.Lab.Tests.Cri;

/// <summary>
/// Where both sticky lab tests (<see cref="LabStickyTests"/>, <see cref="LabStickySharedTests"/>) start from, once
/// the lab is up with two nodes: each node's agent restarted with <c>db/web-*</c> sticky, containerd started on
/// each, a CRI client per node, their cgroup parents, and the lab's EC2 to look at. Disposing closes the clients;
/// the test's <c>lab down</c> stops the rest.
/// </summary>
internal sealed class LabStickyNodes : IDisposable
{
    private LabStickyNodes(LabState state, TimeSpan criTimeout)
    {
        Ec2 = LabEc2Client.Create(state, maxErrorRetry: 3, observer: true);
        Node1 = new CriClient(LabContainerd.Socket(TestLab.Layout, "node1"), criTimeout);
        Node2 = new CriClient(LabContainerd.Socket(TestLab.Layout, "node2"), criTimeout);
        Parent1 = LabContainerd.For(TestLab.Layout, state.Nodes[0]).CgroupParent;
        Parent2 = LabContainerd.For(TestLab.Layout, state.Nodes[1]).CgroupParent;
    }

    public IAmazonEC2 Ec2 { get; }
    public CriClient Node1 { get; }
    public CriClient Node2 { get; }
    public string Parent1 { get; }
    public string Parent2 { get; }

    /// <summary>Gives both nodes' agents <c>pools.sticky</c> with <paramref name="retentionSeconds"/>, then starts containerd on each.</summary>
    public static LabStickyNodes Start(LabState state, int retentionSeconds, TimeSpan criTimeout)
    {
        foreach (var node in state.Nodes)
            RestartWithSticky(node.Name, retentionSeconds);
        foreach (var node in state.Nodes)
            LabContainerd.Start(TestLab.Layout, node, Repository.Plugin);
        return new LabStickyNodes(state, criTimeout);
    }

    /// <summary>The sandbox of <c>db/web-0</c> (a new uid each time, as a pod recreated by its StatefulSet) under <paramref name="parent"/>.</summary>
    public static CriPodSpec Web0(string parent, string mode) => new("db", "web-0", Guid.NewGuid().ToString(), parent, mode);

    /// <summary>A client pod on node2 (shared mode) that keeps web-0's address: its sandbox and its netns.</summary>
    public async Task<(string Sandbox, string Netns)> StartClientAsync()
    {
        var client = await Node2.RunPodSandboxAsync(new CriPodSpec("default", "client", Guid.NewGuid().ToString(), Parent2, "shared"));
        return (client, NetnsWithIp((await Node2.PodSandboxStatusAsync(client)).Ip)!);
    }

    public void Dispose()
    {
        Node2.Dispose();
        Node1.Dispose();
        Ec2.Dispose();
    }
}
