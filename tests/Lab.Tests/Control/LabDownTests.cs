using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Control;

[Collection(LabCollection.Name)]
public sealed class LabDownTests
{
    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void DownAfterSigkillOfTheServerLeavesNothing()
    {
        Privileged.Require("ip", "dnsmasq", "dhclient");
        var layout = TestLab.Layout;
        LabControl.Down(layout);
        try
        {
            var state = TestLab.Up(new LabOptions { Nodes = 1, InstanceType = "t3.small" });
            var pids = state.DnsmasqPids.Append(state.ServerPid).ToList();
            // A process inside a lab netns (as a pod's workload would be) must go too.
            var sleeper = int.Parse(Shell.Run("ip", ["netns", "exec", layout.NodeNetns(1), "sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"])
                .EnsureSuccess("sleep in node1").Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            pids.Add(sleeper);
            Assert.True(Signal.Send(state.ServerPid, Signal.SIGKILL));
            TestLab.Eventually(() => !Signal.IsAlive(state.ServerPid), "the server to die");
            Assert.NotEqual("up", LabStatus.Read(layout).State);
            Assert.True(Signal.IsAlive(sleeper), "the process in node1 outlives the server");

            LabControl.Down(layout);

            Assert.DoesNotContain(Netns.List(), layout.Owns);
            Assert.False(Directory.Exists(layout.StateDirectory));
            Assert.All(pids, pid => Assert.False(Signal.IsAlive(pid), $"pid {pid} survived"));
            Assert.Empty(Shell.Run("pgrep", ["-f", "lab serve --prefix ftlab"]).Stdout.Trim());
            Assert.Empty(Shell.Run("pgrep", ["-f", "/run/fathom-lab/ftlab/"]).Stdout.Trim());
        }
        finally
        {
            LabControl.Down(layout);
        }
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public void UpRepairsAHalfUpLab()
    {
        Privileged.Require("ip", "dnsmasq", "dhclient");
        var layout = TestLab.Layout;
        LabControl.Down(layout);
        try
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
        }
        finally
        {
            LabControl.Down(layout);
        }
    }
}
