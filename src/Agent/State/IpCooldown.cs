using System.Text.Json;

namespace Fathom.Agent.State;

/// <summary>One freed secondary IP waiting out its cooldown.</summary>
/// <param name="Ip">The address.</param>
/// <param name="EniId">The ENI it belongs to.</param>
/// <param name="Until">When it may be handed out again (wall clock, so it survives a restart).</param>
public sealed record CoolingIp(string Ip, string EniId, DateTimeOffset Until);

/// <summary>The on-disk form of <see cref="IpCooldown"/>: <c>cooldown.&lt;generation&gt;.json</c> (an older agent's <c>cooldown.json</c> is generation 0).</summary>
internal sealed record CooldownFile
{
    public const string FileKind = "fathom-agent-cooldown";
    public const int FormatVersion = 1;

    public string Kind { get; set; } = FileKind;

    public int Version { get; set; } = FormatVersion;

    public required IReadOnlyList<CoolingIp> Ips { get; init; }
}

/// <summary>
/// Freed secondary IPs are not handed out again for a while (default 30 s, as AWS VPC CNI does):
/// conntrack entries, ARP caches and peers that resolved the old pod must age out before another pod
/// answers on the address (DESIGN §4). Durable in <c>cooldown.&lt;generation&gt;.json</c>, each change
/// written whole as the next generation (<see cref="GenerationFile"/>: no write renames over an
/// existing file, which ext4 flushes). Deadlines are in wall-clock time so
/// they hold across a restart. Record an IP's cooldown
/// before its allocation is released, so no crash can skip it. If the file is unreadable it is
/// quarantined and every IP cools down for one period from the start, the safe side.
/// </summary>
public sealed class IpCooldown
{
    /// <summary>The cooldown when none is configured.</summary>
    public static readonly TimeSpan DefaultPeriod = TimeSpan.FromSeconds(30);

    private const string Prefix = "cooldown";

    private readonly StateDirectory _state;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CoolingIp> _cooling = new(StringComparer.Ordinal);

    // When the file was lost, no one knows which IPs were freed last: every IP cools until then.
    private DateTimeOffset _everyIpCoolsUntil = DateTimeOffset.MinValue;

    // cooldown.<generation>.json: no write renames over an existing file.
    private readonly GenerationFile _file;

    private IpCooldown(StateDirectory state, TimeSpan period)
    {
        _state = state;
        Period = period;
        _file = new GenerationFile(state.Path, Prefix);
    }

    /// <summary>How long a freed IP cools down.</summary>
    public TimeSpan Period { get; }

    /// <summary>Loads the cooling IPs recorded in <paramref name="state"/>; an unreadable file is quarantined.</summary>
    public static IpCooldown Open(StateDirectory state, TimeSpan? period = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        var cooldown = new IpCooldown(state, period ?? DefaultPeriod);
        cooldown.Load();
        return cooldown;
    }

    /// <summary>
    /// Starts the cooldown of <paramref name="ip"/> (restarting it if it was cooling), durably. With a
    /// zero <see cref="Period"/> it records nothing and the IP is free at once.
    /// </summary>
    public CoolingIp Start(string ip, string eniId)
    {
        ArgumentException.ThrowIfNullOrEmpty(ip);
        ArgumentException.ThrowIfNullOrEmpty(eniId);
        if (Period <= TimeSpan.Zero)
        {
            // No cooldown: nothing to record, so no file to rewrite on every shared DEL (issue 9 §10).
            // A deadline an earlier, longer period left for this IP stands: the safe side.
            return new CoolingIp(AllocationStore.CanonicalIp(ip), eniId, _state.Time.GetUtcNow());
        }
        lock (_gate)
        {
            var entry = new CoolingIp(AllocationStore.CanonicalIp(ip), eniId, _state.Time.GetUtcNow() + Period);
            Prune();
            _cooling[entry.Ip] = entry;
            Save();
            _state.Log.Info("ip.cooling", $"{entry.Ip} of {eniId} cools down until {entry.Until:O}", ("ip", entry.Ip), ("eni", eniId));
            return entry;
        }
    }

    /// <summary>Whether <paramref name="ip"/> is still cooling down.</summary>
    public bool IsCooling(string ip) => Remaining(ip) > TimeSpan.Zero;

    /// <summary>How long <paramref name="ip"/> still cools down; zero when it may be used.</summary>
    public TimeSpan Remaining(string ip)
    {
        lock (_gate)
        {
            var until = _everyIpCoolsUntil;
            if (_cooling.TryGetValue(AllocationStore.CanonicalIp(ip), out var entry) && entry.Until > until)
                until = entry.Until;
            var left = until - _state.Time.GetUtcNow();
            return left > TimeSpan.Zero ? left : TimeSpan.Zero;
        }
    }

    /// <summary>The IPs cooling down now.</summary>
    public IReadOnlyList<CoolingIp> Cooling()
    {
        lock (_gate)
        {
            var now = _state.Time.GetUtcNow();
            return [.. _cooling.Values.Where(c => c.Until > now).OrderBy(c => c.Until)];
        }
    }

    /// <summary>Forgets expired entries, rewriting the file when any were (the pools call this as they look for IPs).</summary>
    public void Sweep()
    {
        lock (_gate)
        {
            if (Prune())
                Save();
        }
    }

    private bool Prune()
    {
        var now = _state.Time.GetUtcNow();
        var expired = _cooling.Values.Where(c => c.Until <= now).Select(c => c.Ip).ToList();
        foreach (var ip in expired)
            _cooling.Remove(ip);
        return expired.Count > 0;
    }

    private void Save()
    {
        _state.WriteAtomically(_file.Next, JsonSerializer.SerializeToUtf8Bytes(
            new CooldownFile { Ips = [.. _cooling.Values.OrderBy(c => c.Ip, StringComparer.Ordinal)] }, StateJsonContext.Default.CooldownFile));
        if (_file.Advance() is { } previous)
            _state.DeleteDurably(previous);
    }

    private void Load()
    {
        var path = _file.Load(
            temporary =>
            {
                File.Delete(temporary);
                _state.Log.Info("state.stray-removed", $"removed {temporary}: a write cut short by a crash, never committed", ("file", temporary));
            },
            older => _state.DeleteDurably(older));
        if (path is null)
            return;
        CooldownFile? file;
        try
        {
            var bytes = File.ReadAllBytes(path);
            if (StateDirectory.CheckHeader(bytes, CooldownFile.FileKind, CooldownFile.FormatVersion) is { } problem)
            {
                Lost(path, problem);
                return;
            }
            file = JsonSerializer.Deserialize(bytes, StateJsonContext.Default.CooldownFile);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            Lost(path, $"not a valid cooldown file: {e.Message}");
            return;
        }
        foreach (var entry in file?.Ips ?? [])
        {
            if (entry is null || string.IsNullOrEmpty(entry.Ip))
                continue;
            _cooling[AllocationStore.CanonicalIp(entry.Ip)] = entry with { Ip = AllocationStore.CanonicalIp(entry.Ip) };
        }
        Prune();
        _state.Log.Info("cooldown.loaded", $"{_cooling.Count} freed IPs still cooling down", ("count", _cooling.Count));
    }

    private void Lost(string path, string problem)
    {
        _state.Quarantine(path, problem);
        _file.Forget();
        _everyIpCoolsUntil = _state.Time.GetUtcNow() + Period;
        _state.Log.Warning("cooldown.lost", $"cooldowns of recently freed IPs are unknown ({problem}): every IP cools down for {Period.TotalSeconds:0} s",
            ("reason", problem));
    }
}
