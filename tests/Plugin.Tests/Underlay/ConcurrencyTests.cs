using System.Text.Json.Nodes;
using Fathom.Plugin.Tests.Harness;

namespace Fathom.Plugin.Tests.Underlay;

/// <summary>
/// Issue 8: invocations racing for one device. A failed ADD rolls back only what it moved
/// (found by its own mark, never by MAC), so exactly one ADD wins, its device stays in its pod
/// and is recorded, and a DEL racing an ADD of the same container ends in one of the two
/// consistent states. Real processes on the real kernel, in fresh namespaces.
/// </summary>
public sealed class ConcurrencyTests
{
    private static string RecordOf(string container, string ifName) =>
        Path.Combine(UnderlayConfigs.RecordsDir, "ul-test", $"{container}-{ifName}.json");

    // Each call on a thread of its own, released together: the thread pool would start them two by two.
    private static CniOutcome[] Parallel(IEnumerable<Func<CniOutcome>> calls)
    {
        var list = calls.ToList();
        var results = new CniOutcome[list.Count];
        var failures = new Exception?[list.Count];
        using var start = new Barrier(list.Count);
        var threads = list.Select((call, i) => new Thread(() =>
        {
            start.SignalAndWait();
            try { results[i] = call(); }
            catch (Exception e) { failures[i] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        if (failures.FirstOrDefault(f => f is not null) is { } failure) throw new AggregateException(failure);
        return results;
    }

    private static void AssertCleanLoss(CniOutcome loser)
    {
        Assert.True(loser.ExitCode == 1, $"a loser must fail with a CNI error: {loser}");
        Assert.NotNull(loser.ErrorCode);
        Assert.NotEqual(199, loser.ErrorCode);
        Assert.DoesNotContain("   at ", loser.Stdout);
    }

    [PrivilegedFact("ip")]
    public void Eight_parallel_ADDs_into_one_pod_naming_one_device_have_exactly_one_winner_whose_device_stays()
    {
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        var config = UnderlayConfigs.Build("1.1.0");
        for (var round = 0; round < 3; round++)
        {
            var outcomes = Parallel(Enumerable.Range(0, 8).Select(i => (Func<CniOutcome>)(() =>
                CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("ADD", $"race-{round}-{i}", bed.Pod.Path, $"eth{i}", bin.Path), config))));
            var winners = Enumerable.Range(0, 8).Where(i => outcomes[i].Succeeded).ToList();
            Assert.True(winners.Count == 1, $"round {round}: {winners.Count} winners: {string.Join(" | ", outcomes.Select(o => o.ToString()))}");
            var w = winners[0];
            foreach (var i in Enumerable.Range(0, 8).Where(i => i != w))
            {
                AssertCleanLoss(outcomes[i]);
                Assert.False(File.Exists(RecordOf($"race-{round}-{i}", $"eth{i}")));
            }

            var pod = KernelState.Read(bed.Pod.Name);
            var link = Assert.Single(pod.Links);
            Assert.Equal($"eth{w}", link.Name);
            Assert.Equal(UnderlayBed.DeviceMac, link.Mac);
            Assert.True(link.Up);
            Assert.Equal(UnderlayBed.Device, link.Alias); // committed: the bare host name, no ADD's mark
            Assert.Null(KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device));
            Assert.True(File.Exists(RecordOf($"race-{round}-{w}", $"eth{w}")));

            // The winner's DEL returns it, for the next round.
            CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("DEL", $"race-{round}-{w}", bed.Pod.Path, $"eth{w}", bin.Path),
                UnderlayConfigs.WithPrevResult(config, outcomes[w].Result)).EnsureSuccess();
            Assert.NotNull(KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device));
            Shell.IpIn(bed.Host.Name, "link", "set", UnderlayBed.Device, "up");
        }
    }

    [PrivilegedFact("ip", "busybox")]
    public void A_failed_ADD_never_takes_out_a_pod_interface_that_only_shares_the_MAC()
    {
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        // The pod's own interface, made before the move so that it lists first, with the device's MAC.
        Shell.IpIn(bed.Pod.Name, "link", "add", "dup0", "address", UnderlayBed.DeviceMac, "type", "veth", "peer", "name", "dup0peer");
        var podBefore = KernelState.Read(bed.Pod.Name);
        var hostBefore = KernelState.Read(bed.Host.Name);
        var config = UnderlayConfigs.Build("1.1.0", staticIpam: true);
        config["ipam"]!["addresses"]![0]!["address"] = "10.10.0.300/24"; // static refuses it, after the move
        var add = CniExec.Run(bed.Host.Name, CniPlugins.Fathom, bed.Call("ADD", bin.Path), config);
        AssertCleanLoss(add);
        Assert.True(podBefore.Equals(KernelState.Read(bed.Pod.Name)), $"the pod changed: {KernelState.Read(bed.Pod.Name)}");
        Assert.True(hostBefore.Equals(KernelState.Read(bed.Host.Name)), $"the host changed: {KernelState.Read(bed.Host.Name)}");
    }

    [PrivilegedFact("ip")]
    public void Eight_parallel_ADDs_into_one_pod_under_one_ifname_have_exactly_one_winner()
    {
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        var config = UnderlayConfigs.Build("1.1.0");
        var outcomes = Parallel(Enumerable.Range(0, 8).Select(i => (Func<CniOutcome>)(() =>
            CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("ADD", $"same-{i}", bed.Pod.Path, "eth0", bin.Path), config))));
        Assert.Single(outcomes, o => o.Succeeded);
        foreach (var loser in outcomes.Where(o => !o.Succeeded)) AssertCleanLoss(loser);
        var link = Assert.Single(KernelState.Read(bed.Pod.Name).Links);
        Assert.Equal(("eth0", UnderlayBed.DeviceMac, UnderlayBed.Device), (link.Name, link.Mac, link.Alias));
    }

    [PrivilegedFact("ip")]
    public void Parallel_ADDs_of_different_containers_into_different_pods_leave_the_device_in_the_winners_pod()
    {
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        var pods = new List<TestNetns> { bed.Pod };
        try
        {
            for (var i = 1; i < 4; i++) pods.Add(TestNetns.Create("ulp"));
            var config = UnderlayConfigs.Build("1.1.0");
            var outcomes = Parallel(pods.Select((p, i) => (Func<CniOutcome>)(() =>
                CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("ADD", $"pods-{i}", p.Path, "eth0", bin.Path), config))));
            var winners = Enumerable.Range(0, pods.Count).Where(i => outcomes[i].Succeeded).ToList();
            Assert.True(winners.Count == 1, string.Join(" | ", outcomes.Select(o => o.ToString())));
            for (var i = 0; i < pods.Count; i++)
            {
                var links = KernelState.Read(pods[i].Name).Links;
                if (i == winners[0])
                    Assert.Equal(UnderlayBed.DeviceMac, Assert.Single(links).Mac);
                else
                {
                    Assert.Empty(links);
                    AssertCleanLoss(outcomes[i]);
                }
            }
        }
        finally
        {
            foreach (var p in pods.Skip(1)) p.Dispose();
        }
    }

    [PrivilegedFact("ip")]
    public void DEL_racing_ADD_of_the_same_container_ends_with_the_device_recorded_in_the_pod_or_back_on_the_host()
    {
        using var bin = new CniBinDir();
        using var bed = UnderlayBed.Create();
        var config = UnderlayConfigs.Build("1.1.0");
        var random = new Random(8);
        for (var round = 0; round < 8; round++)
        {
            var container = $"addel-{round}";
            var delay = random.Next(0, 40);
            var outcomes = Parallel([
                () => CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("ADD", container, bed.Pod.Path, "eth0", bin.Path), config),
                () =>
                {
                    Thread.Sleep(delay);
                    return CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("DEL", container, bed.Pod.Path, "eth0", bin.Path), config);
                },
            ]);
            Assert.NotEqual(199, outcomes[0].ErrorCode);
            outcomes[1].EnsureSuccess(); // DEL always ends

            var inPod = KernelState.Read(bed.Pod.Name).Link("eth0");
            var onHost = KernelState.Read(bed.Host.Name).Link(UnderlayBed.Device);
            var recorded = File.Exists(RecordOf(container, "eth0"));
            if (inPod is not null)
            {
                // Attached: the ADD won after the DEL, its device in the pod and recorded.
                Assert.True(outcomes[0].Succeeded, $"round {round}: a device in the pod after a failed ADD: {outcomes[0]}");
                Assert.Equal((UnderlayBed.DeviceMac, UnderlayBed.Device), (inPod.Mac, inPod.Alias));
                Assert.Null(onHost);
                Assert.True(recorded, $"round {round}: the device is in the pod but not recorded");
            }
            else
            {
                Assert.NotNull(onHost);
                Assert.Equal((UnderlayBed.DeviceMac, UnderlayBed.DeviceMtu, UnderlayBed.Device), (onHost.Mac, onHost.Mtu, onHost.Alias));
                Assert.False(recorded, $"round {round}: a record of an attachment that is not there: {outcomes[0]}");
            }

            // Next round from the host, up.
            CniExec.Run(bed.Host.Name, CniPlugins.Fathom, new CniCall("DEL", container, bed.Pod.Path, "eth0", bin.Path), config).EnsureSuccess();
            Shell.IpIn(bed.Host.Name, "link", "set", UnderlayBed.Device, "up");
        }
    }
}
