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
/// already in the instance (issue 4 §3, §5).
/// </summary>
[Collection(LabCollection.Name)]
public sealed class LabFaultFlagsTests
{
    [PrivilegedFact("ip", "dnsmasq", "dhclient")]
    public async Task PerActionFaultsAttachLatencyAndImdsDelayApplyToTheRunningLab()
    {
        Privileged.Require("ip", "dnsmasq", "dhclient");
        var layout = TestLab.Layout;
        LabControl.Down(layout);
        try
        {
            const int attachLatencyMs = 400, imdsDelayMs = 6000;
            var state = TestLab.Up(new LabOptions
            {
                Nodes = 1, InstanceType = "t3.small", AttachLatencyMs = attachLatencyMs, ImdsDelayMs = imdsDelayMs,
                Faults = "throttle:DescribeSubnets=1",
            });
            var node = state.Nodes[0];

            using (var ec2 = LabEc2Client.Create(state, maxErrorRetry: 0))
            {
                var throttled = await Assert.ThrowsAsync<AmazonEC2Exception>(() => ec2.DescribeSubnetsAsync(new DescribeSubnetsRequest()));
                Assert.Equal("RequestLimitExceeded", throttled.ErrorCode);
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
            TestLab.Eventually(() => (macs = TestLab.ImdsGetAsync(node.Netns, "network/interfaces/macs/").GetAwaiter().GetResult().Body).Contains(eni.Mac),
                "the new ENI in IMDS", timeoutMs: imdsDelayMs + 10000);
            Assert.Equal($"{node.Mac}/\n{eni.Mac}/", macs);
            Assert.Equal((HttpStatusCode.OK, eni.EniId), await TestLab.ImdsGetAsync(node.Netns, $"network/interfaces/macs/{eni.Mac}/interface-id"));
            Assert.True(checkedWithinDelay, "the machine was too slow to look within the IMDS delay");
        }
        finally
        {
            LabControl.Down(layout);
        }
    }
}
