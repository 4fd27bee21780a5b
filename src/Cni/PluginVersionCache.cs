using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fathom.Cni;

/// <summary>
/// The CNI versions each delegated plugin reported for VERSION, remembered across fathom runs in
/// <c>&lt;dataDir&gt;/.plugin-versions/&lt;type&gt;-&lt;hash of its path&gt;.json</c> (a network name never
/// starts with a dot, so this folder is never a network's; the path in the name keeps two
/// runtimes with different CNI_PATHs from overwriting each other's entries). Without it a 1.1.0
/// network whose IPAM plugin speaks up to 1.0.0 (Debian's host-local, static, dhcp 1.1.1) costs
/// three process starts per IPAM call — the refused call, VERSION, the retry — on every ADD and
/// DEL; with it, one.
/// <para>
/// An entry holds for the file it was read from: same path, and the same size and modification
/// time of the file itself (a symlink is followed). It is a hint, never the truth: a call the
/// plugin refuses with error 1 is asked again and the entry rewritten, and an entry that shares
/// no version with fathom is ignored, so a stale entry costs the old three starts once. Reading
/// or writing it never fails a command; an unreadable entry is one that is not there.
/// </para>
/// </summary>
internal sealed class PluginVersionCache
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
        if (EntryPath(plugin.Name, plugin.Path) is not { } path || !File.Exists(path) || Identify(plugin) is not { } file) return null;
        try
        {
            // Never opened unless it is a regular file: a FIFO there must not hang the plugin.
            if (AttachmentStore.ReadRegularFile(path, 1 << 20, out _) is not { } bytes) return null;
            var entry = JsonSerializer.Deserialize(bytes, PluginVersionJson.Default.PluginVersions);
            return entry is { SupportedVersions: { Count: > 0 } versions } && entry.Path == file.Path
                   && entry.Size == file.Size && entry.ModifiedTicks == file.ModifiedTicks
                ? versions
                : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or InvalidOperationException)
        {
            return null; // unreadable, or text that is not valid Unicode: a hint lost, asked again
        }
    }

    /// <summary>
    /// Size and modification time of the plugin's file, read through an open handle so that a
    /// symlink's target is what counts (FileInfo would report the link itself); null when unreadable.
    /// </summary>
    public static PluginFile? Identify(DelegatedPlugin plugin)
    {
        try
        {
            using var handle = File.OpenHandle(plugin.Path, FileMode.Open, FileAccess.Read);
            return new PluginFile(plugin.Name, plugin.Path, RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle).Ticks);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Remembers what the plugin in <paramref name="file"/> (identified before it was asked)
    /// reported. Does nothing when the file changed meanwhile — the answer may be the old
    /// binary's — or when the entry cannot be written.
    /// </summary>
    public void Remember(PluginFile file, DelegatedPlugin plugin, IReadOnlyList<string> versions)
    {
        if (EntryPath(file.Name, file.Path) is not { } path || Identify(plugin) != file) return;
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            Directory.CreateDirectory(Folder, OwnerOnly | UnixFileMode.UserExecute);
            var entry = new PluginVersions(file.Path, file.Size, file.ModifiedTicks, [.. versions]);
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

    // Plugin names come from ipam.type: one outside the CNI name alphabet is not cached rather
    // than escaped, so an entry's path never leaves the folder.
    private string? EntryPath(string name, string pluginPath) =>
        CniSyntax.IsValidName(name) ? Path.Combine(Folder, $"{name}-{Fnv1a(pluginPath):x16}.json") : null;

    // A stable hash (string.GetHashCode is randomized per process); FNV-1a 64 over UTF-16 units.
    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text) hash = (hash ^ c) * 1099511628211UL;
        return hash;
    }
}

/// <summary>The file a plugin was found at, as <see cref="PluginVersionCache"/> identifies it.</summary>
internal readonly record struct PluginFile(string Name, string Path, long Size, long ModifiedTicks);

/// <summary>One entry of <see cref="PluginVersionCache"/>.</summary>
internal sealed record PluginVersions(string Path, long Size, long ModifiedTicks, IReadOnlyList<string> SupportedVersions);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(PluginVersions))]
internal sealed partial class PluginVersionJson : JsonSerializerContext;
