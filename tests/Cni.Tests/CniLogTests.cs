using System.Text.Json.Nodes;

namespace Fathom.Cni.Tests;

/// <summary>The operator log: whole lines, none lost, when many invocations append at once.</summary>
public sealed class CniLogTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fathom-cni-log-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public void Concurrent_appends_keep_every_line_whole()
    {
        // A runtime sets up many pods at once, each its own plugin process appending to one log.
        // Each append opens the file anew, as each process does.
        var path = Path.Combine(_dir.FullName, "fathom.log");
        var config = NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"eth10"}"""u8.ToArray());
        const int writers = 8, lines = 100;
        Parallel.For(0, writers, new ParallelOptions { MaxDegreeOfParallelism = writers }, w =>
        {
            for (var i = 0; i < lines; i++)
            {
                var request = new CniRequest { Command = CniCommand.Add, ContainerId = $"c{w}-{i}", IfName = "eth0", Config = config };
                CniLog.Append(path, DateTimeOffset.UnixEpoch, TimeSpan.FromMilliseconds(1), request, null, null);
            }
        });

        var written = File.ReadAllLines(path);
        Assert.Equal(writers * lines, written.Length);
        var containers = written.Select(l => (string)JsonNode.Parse(l)!["container"]!).ToHashSet();
        Assert.Equal(writers * lines, containers.Count);
    }

    [Fact]
    public void Steps_are_timed_from_the_one_before_and_those_past_the_capacity_are_counted()
    {
        var path = Path.Combine(_dir.FullName, "steps.log");
        var config = NetworkConfig.Parse("""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"eth10"}"""u8.ToArray());
        var request = new CniRequest { Command = CniCommand.Add, ContainerId = "c", IfName = "eth0", Config = config };
        var steps = CniSteps.Begin(System.Diagnostics.Stopwatch.GetTimestamp());
        try
        {
            for (var i = 0; i < 70; i++)
                CniSteps.Mark($"step {i}");
        }
        finally
        {
            CniSteps.End();
        }
        CniSteps.Mark("after the end: not recorded, no failure");
        CniLog.Append(path, DateTimeOffset.UnixEpoch, TimeSpan.FromMilliseconds(1), request, null, null, steps);

        var line = JsonNode.Parse(Assert.Single(File.ReadAllLines(path)))!;
        var logged = line["steps"]!.AsArray();
        Assert.Equal(64, logged.Count);
        Assert.Equal("step 0", (string)logged[0]!["step"]!);
        Assert.Equal("step 63", (string)logged[63]!["step"]!);
        Assert.All(logged, s => Assert.True((double)s!["ms"]! >= 0));
        Assert.Equal(6, (int)line["stepsDropped"]!);
    }
}
