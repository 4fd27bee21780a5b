using System.Text.Json;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Agent.Tests.Logging;

public sealed class AgentLogTests
{
    [Fact]
    public void A_line_is_one_JSON_object_with_time_level_event_msg_and_typed_fields()
    {
        var lines = new List<string>();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 1, 2, 3, TimeSpan.Zero));
        var log = new AgentLog(lines.Add, time);
        log.Warning("teardown.failed", "moving \"eth2\" back failed", ("attempts", 3), ("device", "eth2"), ("retry", true), ("why", null));

        var line = Assert.Single(lines);
        Assert.DoesNotContain('\n', line);
        var json = JsonDocument.Parse(line).RootElement;
        Assert.Equal("2026-12-06T01:02:03+00:00", json.GetProperty("time").GetString());
        Assert.Equal("warning", json.GetProperty("level").GetString());
        Assert.Equal("teardown.failed", json.GetProperty("event").GetString());
        Assert.Equal("moving \"eth2\" back failed", json.GetProperty("msg").GetString());
        Assert.Equal(3, json.GetProperty("attempts").GetInt32());
        Assert.Equal("eth2", json.GetProperty("device").GetString());
        Assert.True(json.GetProperty("retry").GetBoolean());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("why").ValueKind);
    }

    [Fact]
    public void Lines_below_the_minimum_level_are_dropped()
    {
        var lines = new List<string>();
        var log = new AgentLog(lines.Add, minimum: LogLevel.Warning);
        log.Info("a", "dropped");
        log.Error("b", "kept");
        Assert.Equal("b", JsonDocument.Parse(Assert.Single(lines)).RootElement.GetProperty("event").GetString());
        AgentLog.None.Error("c", "nowhere");
    }
}
