using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Fathom.Agent.State;

namespace Fathom.Agent.Sticky;

/// <summary>
/// How one kind of sticky record is kept on disk: its folder under the state directory, its header
/// (<see cref="StateDirectory.CheckHeader"/>), its source-generated JSON metadata, and how to read
/// the pod it belongs to and what it holds (an ENI id, an IP).
/// </summary>
public sealed record StickyRecordFormat<TRecord>(
    string Subdirectory,
    string FileKind,
    int FormatVersion,
    JsonTypeInfo<TRecord> TypeInfo,
    Func<TRecord, string> Identity,
    Func<TRecord, string?> Holds,
    Func<TRecord, DateTimeOffset, TRecord> Stamped,
    string What)
    where TRecord : class;

/// <summary>
/// Durable sticky records, one file per pod, written atomically (<see cref="StateDirectory"/>);
/// unreadable files are quarantined as the allocations' are. <see cref="StickyStore"/> keeps the
/// sticky ENIs', <see cref="StickyIpStore"/> the sticky IPs'.
/// </summary>
public abstract class StickyRecordStore<TRecord>
    where TRecord : class
{
    private readonly StateDirectory _state;
    private readonly StickyRecordFormat<TRecord> _format;
    private readonly string _directory;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, TRecord> _byIdentity = new(StringComparer.Ordinal);

    private protected StickyRecordStore(StateDirectory state, StickyRecordFormat<TRecord> format)
    {
        ArgumentNullException.ThrowIfNull(state);
        _state = state;
        _format = format;
        _directory = state.Subdirectory(format.Subdirectory);
        Load();
    }

    /// <summary>Every record, by pod.</summary>
    public IReadOnlyList<TRecord> All()
    {
        lock (_gate) return [.. _byIdentity.Values.OrderBy(_format.Identity, StringComparer.Ordinal)];
    }

    /// <summary>The record of a pod (<c>namespace/name</c>), or null.</summary>
    public TRecord? Get(string identity)
    {
        lock (_gate) return _byIdentity.GetValueOrDefault(identity);
    }

    /// <summary>Whether some record holds <paramref name="resource"/> (an ENI id, an IP): then the pools never hand it out or give it back.</summary>
    public bool Names(string resource)
    {
        lock (_gate) return _byIdentity.Values.Any(r => _format.Holds(r) == resource);
    }

    /// <summary>Writes <paramref name="record"/> (stamped now) durably; returns it as written.</summary>
    public TRecord Put(TRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        record = _format.Stamped(record, _state.Time.GetUtcNow());
        var identity = _format.Identity(record);
        lock (_gate)
        {
            _state.WriteAtomically(PathOf(identity), JsonSerializer.SerializeToUtf8Bytes(record, _format.TypeInfo));
            _byIdentity[identity] = record;
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
                if (StateDirectory.CheckHeader(bytes, _format.FileKind, _format.FormatVersion) is { } problem)
                {
                    _state.Quarantine(path, problem);
                    continue;
                }
                var record = JsonSerializer.Deserialize(bytes, _format.TypeInfo);
                if (record is null || string.IsNullOrEmpty(_format.Holds(record)) || PathOf(_format.Identity(record)) != path)
                {
                    _state.Quarantine(path, $"not a valid {_format.What} record (null, holding nothing, or not named after its pod)");
                    continue;
                }
                _byIdentity[_format.Identity(record)] = record;
            }
            catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
            {
                _state.Quarantine(path, $"not a valid {_format.What} record: {e.Message}");
            }
            catch (IOException e)
            {
                _state.Log.Error("state.unreadable", $"cannot read {path}: {e.Message}; its {_format.What} is not loaded", ("file", path));
            }
        }
        if (_byIdentity.Count > 0)
            _state.Log.Info("sticky.loaded", $"loaded {_byIdentity.Count} {_format.What} records from {_directory}", ("count", _byIdentity.Count));
    }
}
