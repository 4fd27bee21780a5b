using System.Text.Json.Nodes;
using Fathom.Lab.Control;
using Fathom.Lab.Cri;
using Fathom.Lab.Tests.Control;
using Fathom.Netlink;
using Xunit.Abstractions;

namespace Fathom.Lab.Tests.Cri;

/// <summary>
/// <c>lab up --runtime containerd</c> and <c>lab sandbox run|ls|rm</c> as an operator (and run.sh)
/// uses them: the server runs and supervises a containerd in every node; <c>lab node rm</c> and
/// <c>lab down</c> stop and remove the sandboxes through the CRI, and leave none, nor their netns.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabRuntimeTests(ITestOutputHelper output)
{
    private static Shell.Result Ctl(params string[] args) =>
        Shell.Run(TestLab.Server.FileName, [.. TestLab.Server.LeadingArguments, .. args],
            env: new Dictionary<string, string> { [LabLayout.PrefixVariable] = TestLab.Layout.Prefix, [CniPods.PluginVariable] = Repository.Plugin },
            timeout: TimeSpan.FromSeconds(180));

    [PrivilegedFact("ip", "dnsmasq", "dhclient", "containerd", "ctr", "runc", "nsenter", "unshare")]
    public void LabUpWithContainerdRunsASandboxThroughTheCriThatGetsAnEniAndLabDownLeavesNothing()
    {
        TestLab.WithOwnLab(CriLabFixture.Tools, layout =>
        {
            Ctl("lab", "up", "--nodes", "2", "--instance-type", "t3.medium", "--runtime", "containerd").EnsureSuccess("lab up --runtime containerd");
            var state = LabStateStore.TryLoad(layout)!;
            Assert.Equal(LabContainerd.Runtime, state.Options.Runtime);
            var containerd = state.Nodes.Select(n => LabContainerd.For(layout, n).RunningPid()).ToList();
            Assert.All(containerd, pid => Assert.NotNull(pid));
            var runtime = JsonNode.Parse(Ctl("lab", "status", "--json").EnsureSuccess("lab status --json").Stdout)!["runtime"]!;
            Assert.Equal("containerd", runtime["kind"]!.GetValue<string>());
            Assert.Equal(containerd, runtime["containerd"]!.AsArray().Select(c => (int?)c!["pid"]!.GetValue<int>()));

            var run = Ctl("lab", "sandbox", "run", "web", "--node", "node1", "--mode", "underlay", "--namespace", "shop", "--json").EnsureSuccess("lab sandbox run");
            output.WriteLine(run.Stdout);
            var sandbox = JsonNode.Parse(run.Stdout)!.AsObject();
            Assert.Equal("shop", sandbox["namespace"]!.GetValue<string>());
            Assert.StartsWith("eni-", sandbox["eniId"]!.GetValue<string>());
            Assert.NotEmpty(sandbox["ip"]!.GetValue<string>());
            Assert.Contains("web", Ctl("lab", "sandbox", "ls").EnsureSuccess("lab sandbox ls").Stdout);
            var twice = Ctl("lab", "sandbox", "run", "web", "--node", "node1");
            Assert.NotEqual(0, twice.ExitCode);
            Assert.Contains("exists", twice.Stderr);

            // containerd killed: the server starts it again, and it still knows the sandbox.
            Assert.True(Signal.Send(containerd[0]!.Value, Signal.SIGKILL));
            Eventually.True(() => LabContainerd.For(layout, state.Nodes[0]).RunningPid() is { } p && p != containerd[0] && LabContainerd.For(layout, state.Nodes[0]).Answers(),
                "containerd of node1 back", TimeSpan.FromSeconds(30));

            Assert.Contains("stopped and removed", Ctl("lab", "sandbox", "rm", "web").EnsureSuccess("lab sandbox rm").Stdout);
            Assert.Contains("did not exist", Ctl("lab", "sandbox", "rm", "web").EnsureSuccess("lab sandbox rm again").Stdout);

            // A node added to the running lab gets its containerd too; lab node rm stops and removes its sandbox.
            Ctl("lab", "node", "add", "node3").EnsureSuccess("lab node add node3");
            var node3 = LabStateStore.TryLoad(layout)!.RequireNode("node3");
            Assert.NotNull(LabContainerd.For(layout, node3).RunningPid());
            Ctl("lab", "sandbox", "run", "on-node3", "--node", "node3").EnsureSuccess("a sandbox lab node rm must clean up");
            var onNode3 = SandboxNetns(layout, "node3");
            Ctl("lab", "node", "rm", "node3").EnsureSuccess("lab node rm node3");
            Assert.False(Netns.Exists(onNode3), $"{onNode3} of node3's sandbox outlived lab node rm");

            // lab down: node1's sandbox is stopped and removed through the CRI (its DELs succeed, the
            // agents still run); node2's DEL fails (its fathom is gone from containerd's CNI bin dir),
            // so containerd keeps its netns — lab down deletes it, as the netns the sandbox reported.
            Ctl("lab", "sandbox", "run", "left-behind", "--node", "node1").EnsureSuccess("a sandbox lab down must clean up");
            Ctl("lab", "sandbox", "run", "stuck", "--node", "node2").EnsureSuccess("a sandbox whose DEL will fail");
            var (leftBehind, stuck) = (SandboxNetns(layout, "node1"), SandboxNetns(layout, "node2"));
            File.Delete(Path.Combine(LabContainerd.Paths(layout, "node2").CniBin, "fathom"));
            output.WriteLine(Ctl("lab", "down").EnsureSuccess("lab down").Stdout);
            Assert.False(Netns.Exists(leftBehind), $"{leftBehind} of node1's sandbox outlived lab down");
            Assert.False(Netns.Exists(stuck), $"{stuck} of node2's sandbox, whose DEL failed, outlived lab down");
            Assert.DoesNotContain(Directory.EnumerateDirectories("/proc"), d => Signal.CommandLine(int.TryParse(Path.GetFileName(d), out var p) ? p : 0)
                .Any(a => a.StartsWith(layout.StateDirectory + "/", StringComparison.Ordinal)));
            Assert.Empty(Directory.EnumerateDirectories("/sys/fs/cgroup/memory", layout.Prefix + "-node*"));
            Assert.DoesNotContain(Netns.List(), n => layout.Owns(n));
        });
    }

    /// <summary>The netns path of the one sandbox of <paramref name="node"/>'s containerd, as containerd reports it.</summary>
    private static string SandboxNetns(LabLayout layout, string node)
    {
        using var cri = new CriClient(LabContainerd.Socket(layout, node), TimeSpan.FromSeconds(30));
        var sandbox = Assert.Single(cri.ListPodSandboxAsync().GetAwaiter().GetResult());
        var netns = cri.PodSandboxNetnsAsync(sandbox.Id).GetAwaiter().GetResult();
        Assert.NotNull(netns);
        Assert.True(Netns.Exists(netns), $"{netns} of {sandbox.Name} exists");
        return netns;
    }
}
