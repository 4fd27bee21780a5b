using System.Text.Json;
using Fathom.Agent.Protocol;
using Fathom.Agent.State;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Agent.Tests;

/// <summary>
/// A state directory of its own for one test (removed even when the test fails), a fake clock, and
/// the log lines written. <see cref="Restart"/> is what a SIGKILL then a start do to the state: the
/// old objects are abandoned as they are, the lock is released, and everything is read from disk.
/// </summary>
public sealed class StateFixture : IDisposable
{
    private readonly List<string> _log = [];
    private StateDirectory? _state;

    public StateFixture()
    {
        Root = Directory.CreateTempSubdirectory("ftagc-").FullName;
        Log = new AgentLog(line => { lock (_log) _log.Add(line); }, Time, LogLevel.Debug);
    }

    public string Root { get; }

    public string StatePath => System.IO.Path.Combine(Root, "state");

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));

    public AgentLog Log { get; }

    public StateDirectory State => _state ??= StateDirectory.Open(StatePath, Log, Time);

    public string Path(params string[] parts) => System.IO.Path.Combine([StatePath, .. parts]);

    /// <summary>Drops the current state objects as a crash would and returns a freshly opened directory.</summary>
    public StateDirectory Restart()
    {
        _state?.Dispose();
        _state = null;
        return State;
    }

    /// <summary>The log lines whose event is <paramref name="eventName"/>, parsed.</summary>
    public IReadOnlyList<JsonElement> Events(string eventName)
    {
        lock (_log)
        {
            return [.. _log.Select(l => JsonDocument.Parse(l).RootElement)
                .Where(e => e.GetProperty("event").GetString() == eventName)];
        }
    }

    public void Dispose()
    {
        _state?.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    public static SharedAllocation Shared(string ip, string eni = "eni-aaaa") => new()
    {
        EniId = eni, Gateway = "10.0.1.1", Address = $"{ip}/32", RouteTable = 102, HostVeth = "fthv" + ip.Replace(".", "", StringComparison.Ordinal),
    };

    public static UnderlayAllocation Underlay(string eni, string ip, string device = "eth2") => new()
    {
        EniId = eni, Gateway = "10.0.2.1", Address = $"{ip}/24", Mac = "0a:1b:2c:3d:4e:5f", HostDevice = device, Mtu = 9001,
    };
}
