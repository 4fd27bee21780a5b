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

    [Fact]
    public void A_line_longer_than_the_kept_buffer_is_whole_and_so_is_the_short_one_after_it()
    {
        var lines = new List<string>();
        var log = new AgentLog(lines.Add);
        var cloudError = new string('x', 40_000) + " \"quoted\" é";
        log.Error("cloud.failed", cloudError, ("code", "RequestLimitExceeded"));
        log.Info("pool.took", "short");
        Assert.Equal(2, lines.Count);
        Assert.Equal(cloudError, JsonDocument.Parse(lines[0]).RootElement.GetProperty("msg").GetString());
        Assert.Equal("short", JsonDocument.Parse(lines[1]).RootElement.GetProperty("msg").GetString());
        Assert.All(lines, l => Assert.DoesNotContain('\n', l));
    }

    [Fact]
    public void Lines_written_from_many_threads_at_once_are_each_whole()
    {
        var lines = new System.Collections.Concurrent.ConcurrentBag<string>();
        var log = new AgentLog(lines.Add);
        Parallel.For(0, 800, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            log.Info("allocation.granted", $"pod {i}" + new string('.', i % 50), ("n", i)));
        Assert.Equal(800, lines.Count);
        var seen = lines.Select(l => JsonDocument.Parse(l).RootElement)
            .Select(e => (N: e.GetProperty("n").GetInt32(), Msg: e.GetProperty("msg").GetString()))
            .ToList();
        Assert.All(seen, e => Assert.Equal($"pod {e.N}" + new string('.', e.N % 50), e.Msg));
        Assert.Equal(800, seen.Select(e => e.N).Distinct().Count());
    }

    [Fact]
    public void A_line_written_while_another_is_built_on_the_same_thread_leaves_both_whole()
    {
        var lines = new List<string>();
        var log = new AgentLog(lines.Add);
        log.Info("outer", "the outer line", ("inner", new LogsWhenPrinted(log)), ("after", 7));
        Assert.Equal(["inner", "outer"], lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("event").GetString()));
        var outer = JsonDocument.Parse(lines[1]).RootElement;
        Assert.Equal("printed", outer.GetProperty("inner").GetString());
        Assert.Equal(7, outer.GetProperty("after").GetInt32());
    }

    private sealed class LogsWhenPrinted(AgentLog log)
    {
        public override string ToString()
        {
            log.Info("inner", "written while the outer line is built");
            return "printed";
        }
    }
}
