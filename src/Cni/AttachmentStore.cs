using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fathom.Cni;

/// <summary>
/// One attachment as fathom recorded it after a successful ADD: enough to release it later
/// without the runtime's help — the exact config (IPAM DEL needs it) and the result. The shape
/// follows libcni's result cache (/var/lib/cni/results, <c>cachedInfo</c>): the config as
/// base64 bytes, the result as the JSON the runtime got.
/// </summary>
public sealed class AttachmentRecord
{
    /// <summary>The <see cref="Kind"/> fathom writes; a record of another kind is not read as one.</summary>
    public const string CurrentKind = "fathom-attachment-v1";

    /// <summary>What this file is (and its format version).</summary>
    [JsonPropertyName("kind")]
    public required string Kind { get; init; }

    /// <summary>The network's <c>name</c>.</summary>
    [JsonPropertyName("networkName")]
    public required string Network { get; init; }

    /// <summary>CNI_CONTAINERID of the ADD.</summary>
    [JsonPropertyName("containerID")]
    public required string ContainerId { get; init; }

    /// <summary>CNI_IFNAME of the ADD.</summary>
    [JsonPropertyName("ifname")]
    public required string IfName { get; init; }

    /// <summary>CNI_NETNS of the ADD (for operators; GC runs without a netns).</summary>
    [JsonPropertyName("netns")]
    public string? NetnsPath { get; init; }

    /// <summary>The network config exactly as the ADD received it on stdin.</summary>
    [JsonPropertyName("config")]
    public required byte[] Config { get; init; }

    /// <summary>The result the ADD printed, in the config's version.</summary>
    [JsonPropertyName("result")]
    public JsonElement? Result { get; init; }

    /// <summary>The record of a successful ADD of <paramref name="request"/> that returned <paramref name="result"/>.</summary>
    public static AttachmentRecord Of(CniRequest request, CniResult result)
    {
        using var json = JsonDocument.Parse(CniResultJson.Serialize(result, request.Config.CniVersion));
        return new AttachmentRecord
        {
            Kind = CurrentKind,
            Network = request.Config.Name,
            ContainerId = request.ContainerId,
            IfName = request.IfName,
            NetnsPath = request.NetnsPath,
            Config = request.Config.RawBytes.ToArray(),
            Result = json.RootElement.Clone(),
        };
    }
}

/// <summary>A file in a network's record folder: its record, or why it could not be read.</summary>
/// <param name="Path">The file.</param>
/// <param name="Record">The record, or null when it could not be read.</param>
/// <param name="Problem">Why it could not be read (null when <paramref name="Record"/> is set).</param>
/// <param name="Code">The CNI code for the problem: 5 unreadable, 6 not a record.</param>
public sealed record StoredAttachment(string Path, AttachmentRecord? Record, string? Problem = null,
    CniErrorCode Code = CniErrorCode.IoFailure);

/// <summary>
/// Fathom's attachment records for one network: <c>&lt;dataDir&gt;/&lt;network&gt;/&lt;containerID&gt;-&lt;ifname&gt;.json</c>,
/// written after ADD, removed by DEL, and what GC walks to release attachments the runtime no
/// longer lists (CNI spec 1.1 §GC). IPAM plugins from before 1.1 (Debian's host-local, static,
/// dhcp 1.1.1) have no GC of their own, so without these a pod that vanished without a DEL would
/// hold its address forever. Each file is written whole to a temporary name, flushed to disk and
/// renamed over the old one (rename(2) is atomic), so a reader never sees half a record.
/// </summary>
public sealed class AttachmentStore
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The store of <paramref name="network"/> under <paramref name="dataDir"/>.</summary>
    public AttachmentStore(string dataDir, string network)
    {
        Network = network;
        Folder = System.IO.Path.Combine(dataDir, network);
    }

    /// <summary>The network's name.</summary>
    public string Network { get; }

    /// <summary>The store of the config's network under its <c>dataDir</c>.</summary>
    public static AttachmentStore For(NetworkConfig config) => new(config.DataDir, config.Name);

    /// <summary>The network's folder.</summary>
    public string Folder { get; }

    /// <summary>
    /// The file of one attachment. Container IDs (<c>[a-zA-Z0-9_.-]</c>, first alphanumeric) and
    /// interface names (no '/') are checked before they get here, so this stays inside the folder.
    /// </summary>
    public string PathOf(string containerId, string ifName) => System.IO.Path.Combine(Folder, $"{containerId}-{ifName}.json");

    /// <summary>
    /// Writes <paramref name="record"/> atomically (temporary file, fsync, rename), replacing the
    /// record of the same attachment. Error 4 when the file belongs to another attachment whose
    /// ID and name join to the same file name ("a-b" + "c" and "a" + "b-c").
    /// </summary>
    public void Save(AttachmentRecord record)
    {
        var path = PathOf(record.ContainerId, record.IfName);
        if (File.Exists(path) && Read(path) is { Record: { } other }
            && (other.ContainerId != record.ContainerId || other.IfName != record.IfName))
            throw new CniException(CniErrorCode.InvalidEnvironment,
                $"attachment {record.ContainerId}/{record.IfName} and attachment {other.ContainerId}/{other.IfName} of network \"{record.Network}\" share the record file {path}",
                "container IDs and interface names that join to the same name cannot both be attached");

        // Records hold whole configs, which may carry credentials: owner only, as libcni's cache.
        Directory.CreateDirectory(Folder, OwnerOnly | UnixFileMode.UserExecute);
        var temporary = $"{path}.{Environment.ProcessId}.tmp"; // not *.json: never listed as a record
        try
        {
            using (var file = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.Create,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = OwnerOnly,
            }))
            {
                JsonSerializer.Serialize(file, record, AttachmentJson.Default.AttachmentRecord);
                // fsync before rename: after a crash the name points at the whole record or the old one.
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true); // rename(2)
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Removes the record of one attachment, if there is one (DEL is idempotent): one unlink(2),
    /// no stat first — File.Delete ignores a missing file, and throws only when the folder is missing too.
    /// </summary>
    public void Remove(string containerId, string ifName)
    {
        try
        {
            File.Delete(PathOf(containerId, ifName));
        }
        catch (DirectoryNotFoundException)
        {
            // No ADD of this network was ever recorded here.
        }
    }

    /// <summary>Every record of the network, in file-name order; files that are not readable records say why.</summary>
    public IReadOnlyList<StoredAttachment> List()
    {
        if (!Directory.Exists(Folder)) return [];
        var files = Directory.GetFiles(Folder, "*.json");
        Array.Sort(files, StringComparer.Ordinal);
        return [.. files.Select(Read)];
    }

    /// <summary>Reads one record file.</summary>
    public StoredAttachment Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new StoredAttachment(path, null, $"cannot read it: {e.Message}");
        }

        AttachmentRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(bytes, AttachmentJson.Default.AttachmentRecord);
        }
        catch (JsonException e)
        {
            return new StoredAttachment(path, null, $"not an attachment record: {CniJson.Where(e)}", CniErrorCode.DecodeFailure);
        }
        var problem = record switch
        {
            null => "not an attachment record: null",
            { Kind: not AttachmentRecord.CurrentKind } => $"not an attachment record: kind \"{record.Kind}\", expected \"{AttachmentRecord.CurrentKind}\"",
            _ when record.Network != Network => $"it records an attachment of network \"{record.Network}\", not \"{Network}\"",
            _ when path != PathOf(record.ContainerId, record.IfName) =>
                $"it records attachment {record.ContainerId}/{record.IfName}, whose file is {PathOf(record.ContainerId, record.IfName)}",
            _ => null,
        };
        return problem is null
            ? new StoredAttachment(path, record)
            : new StoredAttachment(path, null, problem, CniErrorCode.DecodeFailure);
    }
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AttachmentRecord))]
internal sealed partial class AttachmentJson : JsonSerializerContext;
