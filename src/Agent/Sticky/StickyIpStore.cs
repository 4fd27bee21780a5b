using System.Text.Json;
using Fathom.Agent.State;

namespace Fathom.Agent.Sticky;

/// <summary>
/// The durable sticky IP records, one file per pod in <c>sticky-ips/</c>, written atomically
/// (<see cref="StateDirectory"/>) as <see cref="StickyStore"/> writes the sticky ENIs' records;
/// unreadable files are quarantined.
/// </summary>
public sealed class StickyIpStore
{
    private readonly StateDirectory _state;
    private readonly string _directory;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, StickyIpRecord> _byIdentity = new(StringComparer.Ordinal);

    private StickyIpStore(StateDirectory state)
    {
        _state = state;
        _directory = state.Subdirectory("sticky-ips");
    }

    /// <summary>Loads the records in <paramref name="state"/>.</summary>
    public static StickyIpStore Open(StateDirectory state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var store = new StickyIpStore(state);
        store.Load();
        return store;
    }

    /// <summary>Every record.</summary>
    public IReadOnlyList<StickyIpRecord> All()
    {
        lock (_gate) return [.. _byIdentity.Values.OrderBy(r => r.Identity, StringComparer.Ordinal)];
    }

    /// <summary>The record of a pod (<c>namespace/name</c>), or null.</summary>
    public StickyIpRecord? Get(string identity)
    {
        lock (_gate) return _byIdentity.GetValueOrDefault(identity);
    }

    /// <summary>Whether some record names <paramref name="ip"/>: then the pool never hands it out, counts it free or gives it back.</summary>
    public bool Names(string ip)
    {
        lock (_gate) return _byIdentity.Values.Any(r => r.Ip == ip);
    }

    /// <summary>Writes <paramref name="record"/> (stamped now) durably; returns it as written.</summary>
    public StickyIpRecord Put(StickyIpRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        record = record with { UpdatedAt = _state.Time.GetUtcNow() };
        lock (_gate)
        {
            _state.WriteAtomically(PathOf(record.Identity), JsonSerializer.SerializeToUtf8Bytes(record, StickyJsonContext.Default.StickyIpRecord));
            _byIdentity[record.Identity] = record;
        }
        return record;
    }

    /// <summary>Removes the record of a pod durably; false when there was none.</summary>
    public bool Remove(string identity)
    {
        lock (_gate)
        {
            _state.DeleteDurably(PathOf(identity));
            return _byIdentity.Remove(identity);
        }
    }

    // namespace/name → namespace_name.json: neither a namespace nor a pod name has '_' or '/'.
    private string PathOf(string identity) => Path.Combine(_directory, identity.Replace('/', '_') + ".json");

    private void Load()
    {
        foreach (var path in _state.Files(_directory))
        {
            try
            {
                var bytes = File.ReadAllBytes(path);
                if (StateDirectory.CheckHeader(bytes, StickyIpRecord.FileKind, StickyIpRecord.FormatVersion) is { } problem)
                {
                    _state.Quarantine(path, problem);
                    continue;
                }
                var record = JsonSerializer.Deserialize(bytes, StickyJsonContext.Default.StickyIpRecord);
                if (record is null || string.IsNullOrEmpty(record.Ip) || PathOf(record.Identity) != path)
                {
                    _state.Quarantine(path, "not a valid sticky IP record (null, no IP, or not named after its pod)");
                    continue;
                }
                _byIdentity[record.Identity] = record;
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
            {
                _state.Quarantine(path, $"not a valid sticky IP record: {e.Message}");
            }
            catch (IOException e)
            {
                _state.Log.Error("state.unreadable", $"cannot read {path}: {e.Message}; its sticky IP is not loaded", ("file", path));
            }
        }
        if (_byIdentity.Count > 0)
            _state.Log.Info("sticky.loaded", $"loaded {_byIdentity.Count} sticky IP records from {_directory}", ("count", _byIdentity.Count));
    }
}
