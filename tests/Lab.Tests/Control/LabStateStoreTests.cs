using System.Text.Json;
using Fathom.Lab.Control;

namespace Fathom.Lab.Tests.Control;

public sealed class LabStateStoreTests
{
    /// <summary>
    /// lab.json from before issue 7 carries attachLatencyMs, throttleRate and errorRate as options
    /// of their own; now they are part of faults. Such a file must still read (`lab down` and
    /// `lab status` of a lab an older fathomctl brought up), the old fields ignored.
    /// </summary>
    [Fact]
    public void LabJsonWithTheOldFaultFieldsStillReads()
    {
        const string old = """
            {
              "prefix": "flab",
              "options": { "nodes": 2, "instanceType": "t3.medium", "subnets": 1, "attachLatencyMs": 400,
                           "throttleRate": 0.5, "errorRate": 0.1, "imdsDelayMs": 0, "faults": "throttle:DescribeSubnets=1" },
              "phase": "Ready",
              "serverPid": 4242,
              "credentials": { "accessKeyId": "AKIAAAAAAAAAAAAAAAAA", "secretAccessKey": "s", "region": "us-east-1" },
              "loopbackPort": 34567
            }
            """;
        var state = JsonSerializer.Deserialize(old, LabJsonContext.Default.LabState)!;
        Assert.Equal(new LabOptions { Nodes = 2, InstanceType = "t3.medium", Subnets = 1, Faults = "throttle:DescribeSubnets=1" }, state.Options);
        Assert.Equal((LabPhase.Ready, 4242, 34567), (state.Phase, state.ServerPid, state.LoopbackPort));

        // And what is written now has no such fields.
        var written = JsonSerializer.Serialize(state, LabJsonContext.Default.LabState);
        Assert.DoesNotContain("throttleRate", written);
        Assert.DoesNotContain("attachLatencyMs", written);
    }
}
