using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fathom.Cni;

/// <summary>
/// The CNI versions each delegated plugin reported for VERSION, remembered across fathom runs in
/// <c>&lt;dataDir&gt;/.plugin-versions/&lt;type&gt;.json</c> (a network name never starts with a dot,
/// so this folder is never a network's). Without it a 1.1.0 network whose IPAM plugin speaks up
/// to 1.0.0 (Debian's host-local, static, dhcp 1.1.1) costs three process starts per IPAM call —
/// the refused call, VERSION, the retry — on every ADD and DEL; with it, one.
/// <para>
/// An entry holds for the file it was read from: same path, size and modification time. It is a
/// hint, never the truth: a call the plugin refuses with error 1 is asked again and the entry
/// rewritten, so a stale entry costs the old three starts once. Reading or writing it never
/// fails a command; an unreadable entry is one that is not there.
/// </para>
/// </summary>
public sealed class PluginVersionCache
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The cache under <paramref name="dataDir"/>.</summary>
    public PluginVersionCache(string dataDir) => Folder = Path.Combine(dataDir, ".plugin-versions");

    /// <summary>The cache of the config's <c>dataDir</c>.</summary>
    public static PluginVersionCache For(NetworkConfig config) => new(config.DataDir);

    /// <summary>Where the entries are.</summary>
    public string Folder { get; }

    /// <summary>The versions <paramref name="plugin"/>'s file reported, or null when not known for this very file.</summary>
    public IReadOnlyList<string>? TryGet(DelegatedPlugin plugin)
    {
        // Most networks never need an entry: one stat(2) and back, no exception on the hot path.
        if (EntryPath(plugin) is not { } path || !File.Exists(path) || Identify(plugin.Path) is not { } file) return null;
        try
        {
            var entry = JsonSerializer.Deserialize(File.ReadAllBytes(path), PluginVersionJson.Default.PluginVersions);
            return entry is { SupportedVersions: { Count: > 0 } versions } && entry.Path == plugin.Path
                   && entry.Size == file.Size && entry.ModifiedTicks == file.ModifiedTicks
                ? versions
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Remembers what <paramref name="plugin"/> reported; silently does nothing when it cannot.</summary>
    public void Remember(DelegatedPlugin plugin, IReadOnlyList<string> versions)
    {
        if (EntryPath(plugin) is not { } path || Identify(plugin.Path) is not { } file) return;
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            Directory.CreateDirectory(Folder, OwnerOnly | UnixFileMode.UserExecute);
            var entry = new PluginVersions(plugin.Path, file.Size, file.ModifiedTicks, [.. versions]);
            using (var stream = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = OwnerOnly,
            }))
                JsonSerializer.Serialize(stream, entry, PluginVersionJson.Default.PluginVersions);
            // rename(2): a concurrent reader sees the old entry or the new one, never half of one.
            // No fsync: after a crash a lost entry only costs one VERSION again.
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A read-only or full dataDir: the next run asks VERSION again, nothing worse.
            try
            {
                File.Delete(temporary);
            }
            catch (Exception again) when (again is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    // Plugin names come from ipam.type: anything outside the CNI name alphabet is not cached
    // rather than escaped, so an entry's path never leaves the folder.
    private string? EntryPath(DelegatedPlugin plugin) =>
        plugin.Name.Length > 0 && plugin.Name[0] != '.' && plugin.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')
            ? Path.Combine(Folder, plugin.Name + ".json")
            : null;

    private static (long Size, long ModifiedTicks)? Identify(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.Length, info.LastWriteTimeUtc.Ticks) : null;
    }
}

/// <summary>One entry of <see cref="PluginVersionCache"/>.</summary>
internal sealed record PluginVersions(string Path, long Size, long ModifiedTicks, IReadOnlyList<string> SupportedVersions);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(PluginVersions))]
internal sealed partial class PluginVersionJson : JsonSerializerContext;
