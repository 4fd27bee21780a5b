using System.Diagnostics;
using System.Net;
using Amazon.EC2;
using Amazon.EC2.Model;
using Fathom.Lab.Control;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// The fault and timing flags of <c>lab up</c> as an agent meets them in a running lab: a
/// per-action fault hits that action only, the attach latency holds AttachNetworkInterface
/// back, and IMDS shows a just-attached ENI only after the IMDS delay although its device is
/// already in the instance; the throttling and error rates hit every action (issue 4 §3, §5).
/// Set through <c>fathomctl lab up</c>, as an operator sets them.
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabFaultFlagsTests
{
    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public async Task PerActionFaultsAttachLatencyAndImdsDelayApplyToTheRunningLab()
    {
        await TestLab.WithOwnLabAsync(["ip", "dnsmasq", "dhclient"], async layout =>
        {
            const int attachLatencyMs = 400, imdsDelayMs = 6000;
            // Through the CLI, as an operator sets them.
            var state = UpWith("--attach-latency", $"{attachLatencyMs}", "--imds-delay", $"{imdsDelayMs}",
                "--faults", "throttle:DescribeSubnets=1,error:DescribeSecurityGroups=1");
            var node = state.Nodes[0];

            using (var ec2 = LabEc2Client.Create(state, maxErrorRetry: 0))
            {
                var throttled = await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest()));
                Assert.Equal("RequestLimitExceeded", throttled.ErrorCode);
                var failed = await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeSecurityGroupsAsync(new DescribeSecurityGroupsRequest()));
                Assert.Contains(failed.ErrorCode, (string[])["InternalError", "Unavailable"]);
                Assert.Single((await ec2.DescribeInstancesAsync(new DescribeInstancesRequest())).Reservations);
            }

            var attach = Stopwatch.StartNew();
            var eni = await LabEc2Client.AttachNewEniAsync(state, node.Name);
            Assert.True(attach.ElapsedMilliseconds >= attachLatencyMs, $"the attach took {attach.ElapsedMilliseconds} ms, under the {attachLatencyMs} ms latency");
            Assert.Equal(0, Shell.Run("ip", ["-n", node.Netns, "link", "show", "dev", LabLayout.DeviceName(eni.DeviceIndex)]).ExitCode);

            // Within the delay IMDS knows only the primary ENI. The server starts the delay when it
            // plugs the device, after the request began: timed from `attach`, the look is
            // conservative — both answers came back within the delay when the check below holds.
            var early = await TestLab.ImdsGetAsync(node.Netns, "network/interfaces/macs/");
            var earlyInterface = await TestLab.ImdsGetAsync(node.Netns, $"network/interfaces/macs/{eni.Mac}/interface-id");
            var checkedWithinDelay = attach.ElapsedMilliseconds < imdsDelayMs;
            if (checkedWithinDelay)
            {
                Assert.Equal(node.Mac + "/", early.Body);
                Assert.Equal(HttpStatusCode.NotFound, earlyInterface.Status);
            }

            // ...then the new one, with its details.
            string macs = "";
            Eventually.True(() => (macs = TestLab.ImdsGetAsync(node.Netns, "network/interfaces/macs/").GetAwaiter().GetResult().Body).Contains(eni.Mac),
                "the new ENI in IMDS", TimeSpan.FromMilliseconds(imdsDelayMs + 10000));
            Assert.Equal($"{node.Mac}/\n{eni.Mac}/", macs);
            Assert.Equal((HttpStatusCode.OK, eni.EniId), await TestLab.ImdsGetAsync(node.Netns, $"network/interfaces/macs/{eni.Mac}/interface-id"));
            Assert.True(checkedWithinDelay, "the machine was too slow to look within the IMDS delay");
        });
    }

    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public async Task ThrottleAndErrorRatesApplyToEveryAction()
    {
        await TestLab.WithOwnLabAsync(["ip", "dnsmasq", "dhclient"], async layout =>
        {
            // Rate 1: every call, whatever the action, so the check cannot pass by luck.
            var state = UpWith("--throttle-rate", "1");
            using (var ec2 = LabEc2Client.Create(state, maxErrorRetry: 0))
            {
                Assert.Equal("RequestLimitExceeded", (await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeInstancesAsync(new DescribeInstancesRequest()))).ErrorCode);
                Assert.Equal("RequestLimitExceeded", (await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeNetworkInterfacesAsync(new DescribeNetworkInterfacesRequest()))).ErrorCode);
            }
            LabControl.Down(layout);

            state = UpWith("--error-rate", "1");
            using (var ec2 = LabEc2Client.Create(state, maxErrorRetry: 0))
            {
                var e = await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest()));
                Assert.Contains(e.ErrorCode, (string[])["InternalError", "Unavailable"]);
                e = await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeInstancesAsync(new DescribeInstancesRequest()));
                Assert.Contains(e.ErrorCode, (string[])["InternalError", "Unavailable"]);
            }
        });
    }

    // `fathomctl lab up` for a one-node lab with the given flags; the state it left.
    private static LabState UpWith(params string[] flags)
    {
        // No node agent: its own EC2 calls (a warm pool) would share the faults and the ENI limit under test.
        TestLab.Ctl(["lab", "up", "--nodes", "1", "--instance-type", "t3.small", "--no-agents", .. flags]).EnsureSuccess("fathomctl lab up " + string.Join(' ', flags));
        return LabStateStore.TryLoad(TestLab.Layout) ?? throw new Xunit.Sdk.XunitException("lab up left no state");
    }
}
