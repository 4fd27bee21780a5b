using System.Diagnostics;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Control;

[Collection(LabCollection.Name)]
public sealed class LabDownTests
{
    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void DownAfterSigkillOfTheServerLeavesNothing()
    {
        Process? sleeper = null;
        TestLab.WithOwnLab(["ip", "dnsmasq", "dhclient"], layout =>
        {
            try
            {
                var state = TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "t3.small" });
                var pids = state.DnsmasqPids.Append(state.ServerPid).ToList();
                // A process inside a lab netns (as a pod's workload would be) must go too.
                sleeper = TestLab.SleepIn(layout.NodeNetns(1));
                var sleeperPid = sleeper.Id;
                pids.Add(sleeperPid);
                Assert.True(Signal.Send(state.ServerPid, Signal.SIGKILL));
                Eventually.True(() => !Signal.IsAlive(state.ServerPid), "the server to die");
                Assert.NotEqual("up", LabStatus.Read(layout).State);
                Assert.True(Signal.IsAlive(sleeperPid), "the process in node1 outlives the server");

                LabControl.Down(layout);

                Assert.True(sleeper.WaitForExit(5000), "down kills the process in node1");
                Assert.DoesNotContain(Netns.List(), layout.Owns);
                Assert.False(Directory.Exists(layout.StateDirectory));
                Assert.All(pids, pid => Assert.False(Signal.IsAlive(pid), $"pid {pid} survived"));
                Assert.Empty(Shell.Run("pgrep", ["-f", $"lab serve --prefix {layout.Prefix}( |$)"]).Stdout.Trim());
                Assert.Empty(Shell.Run("pgrep", ["-f", layout.StateDirectory + "/"]).Stdout.Trim());
            }
            finally
            {
                TestLab.Reap(sleeper);
            }
        });
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void DownStopsALiveServerWhichReapsItsDnsmasq()
    {
        TestLab.WithOwnLab(["ip", "dnsmasq", "dhclient"], layout =>
        {
            var state = TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "t3.small", Subnets = 2 });
            Assert.Equal(2, state.DnsmasqPids.Count);

            LabControl.Down(layout);

            // Not even a zombie: the server, stopped by SIGTERM, killed and waited for its
            // children; a SIGKILLed server would have left them to init.
            Assert.All(state.DnsmasqPids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"dnsmasq {pid} was not reaped"));
            Assert.False(Signal.IsAlive(state.ServerPid));
            Assert.DoesNotContain(Netns.List(), layout.Owns);
        });
    }

    [PrivilegedFact("ip")]
    public void DownWithoutAnyStateStillRemovesTheLabsNamespacesAndWhatRunsInThem()
    {
        Process? sleeper = null;
        TestLab.WithOwnLab(["ip"], layout =>
        {
            try
            {
                // Left over with no lab.json at all (the state directory lost, e.g. /run cleaned by hand).
                Netns.Create(layout.VpcNetns).Dispose();
                Netns.Create(layout.PodNetns("orphan")).Dispose();
                sleeper = TestLab.SleepIn(layout.PodNetns("orphan"));
                var status = LabStatus.Read(layout);
                Assert.Equal("degraded", status.State);
                Assert.Contains("lab down", status.Error);

                LabControl.Down(layout);

                Assert.True(sleeper.WaitForExit(5000), "down kills the process in the pod netns");
                Assert.DoesNotContain(Netns.List(), layout.Owns);
                Assert.Equal("down", LabStatus.Read(layout).State);
            }
            finally
            {
                TestLab.Reap(sleeper);
            }
        });
    }

    [PrivilegedFact("ip")]
    public void AServerThatDiedStartingIsReportedDegradedNotStartingForEver()
    {
        TestLab.WithOwnLab(["ip"], layout =>
        {
            // What an interrupted `lab up` leaves when its server then dies: phase Starting, a dead pid.
            int deadPid;
            using (var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!)
            {
                gone.WaitForExit();
                deadPid = gone.Id;
            }
            Directory.CreateDirectory(layout.StateDirectory);
            LabStateStore.Save(layout, new LabState
            {
                Prefix = layout.Prefix,
                Options = new LabOptions(),
                Phase = LabPhase.Starting,
                ServerPid = deadPid,
                Credentials = new LabCredentials("AKIAFTLAB00000000000", "secret", "us-east-1"),
            });

            var status = LabStatus.Read(layout);

            Assert.Equal("degraded", status.State);
            Assert.Contains("died before the lab was ready", status.Error);
        });
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void UpRepairsAHalfUpLab()
    {
        TestLab.WithOwnLab(["ip", "dnsmasq", "dhclient"], layout =>
        {
            var options = new LabOptions { Nodes = 1, InstanceType = "t3.small" };
            var first = TestLab.Up(options);
            Netns.Delete(layout.NodeNetns(1)); // an instance lost behind the lab's back
            Assert.Equal("degraded", LabStatus.Read(layout).State);

            var (outcome, second) = LabControl.Up(layout, options, TestLab.Server);

            Assert.Equal(UpOutcome.Repaired, outcome);
            Assert.NotEqual(first.ServerPid, second.ServerPid);
            Assert.False(Signal.IsAlive(first.ServerPid));
            Assert.Equal("up", LabStatus.Read(layout).State);
            Assert.True(Netns.Exists(layout.NodeNetns(1)));
        });
    }
}
