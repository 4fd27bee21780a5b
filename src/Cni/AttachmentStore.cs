using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Json;
using Microsoft.Win32.SafeHandles;

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

    private JsonElement? _result;

    // The ADD's own result, when this record was made by Of: written straight into the record's
    // JSON (ToUtf8Json), never parsed back into a JsonElement unless someone asks for Result. The
    // parse's pooled buffers were what first needed .NET's processor-id calibration in an ADD
    // (≈ 0.1 ms; IpPrefix's remarks, docs/benchmarks.md).
    private (CniResult Result, string Version)? _made;

    /// <summary>The result the ADD printed, in the config's version.</summary>
    [JsonPropertyName("result")]
    public JsonElement? Result
    {
        get => _result ??= _made is { } made ? Parse(made.Result, made.Version) : null;
        init => _result = value;
    }

    /// <summary>
    /// The record of a successful ADD of <paramref name="request"/> that returned <paramref name="result"/>
    /// (as <paramref name="result"/> is when the record is written).
    /// </summary>
    public static AttachmentRecord Of(CniRequest request, CniResult result) => new()
    {
        Kind = CurrentKind,
        Network = request.Config.Name,
        ContainerId = request.ContainerId,
        IfName = request.IfName,
        NetnsPath = request.NetnsPath,
        Config = request.Config.RawBytes.ToArray(),
        _made = (result, request.Config.CniVersion),
    };

    private static JsonElement Parse(CniResult result, string version)
    {
        using var json = JsonDocument.Parse(CniResultJson.Serialize(result, version));
        return json.RootElement.Clone();
    }

    /// <summary>
    /// The record as the file holds it: written by hand, the same bytes as <c>AttachmentJson</c>'s
    /// serializer (a test pins them), which the plugin then never builds — the serializer's first
    /// use in a process (its metadata, converters, caches) was ≈ 10 % of a shared ADD's CPU
    /// (docs/benchmarks.md, "Where the plugin's CPU went"). Reading stays the serializer's: ADD
    /// reads a record only when one is already there.
    /// </summary>
    public byte[] ToUtf8Json()
    {
        var buffer = new ArrayBufferWriter<byte>(1024 + Config.Length * 4 / 3);
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = AsciiJsonEncoder.Strict }))
        {
            w.WriteStartObject();
            w.WriteString("kind", Kind);
            w.WriteString("networkName", Network);
            w.WriteString("containerID", ContainerId);
            w.WriteString("ifname", IfName);
            if (NetnsPath is not null) w.WriteString("netns", NetnsPath);
            w.WriteBase64String("config", Config);
            if (_result is null && _made is { } made)
            {
                w.WritePropertyName("result");
                CniResultJson.Write(w, made.Result, made.Version);
            }
            else if (Result is { } result)
            {
                w.WritePropertyName("result");
                result.WriteTo(w);
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>A file in a network's record folder: its record, or why it could not be read.</summary>
/// <param name="Path">The file.</param>
/// <param name="Record">The record, or null when it could not be read.</param>
/// <param name="Problem">Why it could not be read (null when <paramref name="Record"/> is set).</param>
/// <param name="Code">The CNI code for the problem: 5 unreadable, 6 not a record.</param>
/// <param name="Skipped">Not a regular file (a FIFO, a socket): never opened, not reported as an error.</param>
public sealed record StoredAttachment(string Path, AttachmentRecord? Record, string? Problem = null,
    CniErrorCode Code = CniErrorCode.IoFailure, bool Skipped = false);

/// <summary>
/// Fathom's attachment records for one network: <c>&lt;dataDir&gt;/&lt;network&gt;/&lt;containerID&gt;-&lt;ifname&gt;.json</c>,
/// written after ADD, removed by DEL, and what GC walks to release attachments the runtime no
/// longer lists (CNI spec 1.1 §GC). IPAM plugins from before 1.1 (Debian's host-local, static,
/// dhcp 1.1.1) have no GC of their own, so without these a pod that vanished without a DEL would
/// hold its address forever. Each file is written whole to a temporary name, flushed to disk (<see cref="SyncWrites"/>) and
/// renamed over the old one (rename(2) is atomic), so a reader never sees half a record.
/// </summary>
public sealed class AttachmentStore
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    // NAME_MAX and PATH_MAX (include/uapi/linux/limits.h).
    private const int NameMax = 255;
    private const int PathMax = 4096;

    // A record is a config and a result: anything far bigger was not written by fathom.
    private const long MaxRecordBytes = 16 << 20;

    /// <summary>The store of <paramref name="network"/> under <paramref name="dataDir"/>.</summary>
    public AttachmentStore(string dataDir, string network)
    {
        Network = network;
        Folder = System.IO.Path.Combine(dataDir, network);
    }

    /// <summary>The network's name.</summary>
    public string Network { get; }

    /// <summary>
    /// The store of the config's network under its <c>dataDir</c>; its writes are fsync'ed only
    /// when the network delegates IPAM (<see cref="SyncWrites"/>).
    /// </summary>
    public static AttachmentStore For(NetworkConfig config) => new(config.DataDir, config.Name) { SyncWrites = config.IpamType is not null };

    /// <summary>
    /// Whether <see cref="Save"/> fsyncs the record before its rename. A renamed record survives any
    /// death of the plugin (the page cache outlives the process); fsync adds only a kernel crash or
    /// power loss, and costs a journal commit — 0.4 ms on a quiet node, 15 ms when others write
    /// (strace -T of an ADD that moves a device, docs/benchmarks.md). It is worth that where the
    /// record is the only durable trace of a resource: a delegated IPAM's address, which only the
    /// record's GC releases. Without delegated IPAM what a pod holds is recorded elsewhere (a node
    /// agent's own state) or held by the pod's namespace, which a power loss takes along.
    /// </summary>
    public bool SyncWrites { get; init; } = true;

    /// <summary>The network's folder.</summary>
    public string Folder { get; }

    /// <summary>
    /// The file of one attachment. Container IDs (<c>[a-zA-Z0-9_.-]</c>, first alphanumeric) and
    /// interface names (no '/') are checked before they get here, so this stays inside the folder.
    /// </summary>
    public string PathOf(string containerId, string ifName) => System.IO.Path.Combine(Folder, $"{containerId}-{ifName}.json");

    // The name a record is written under before its rename: the writer's pid in it, so GC can tell a stray one.
    private static string TemporaryOf(string path, int pid) => $"{path}.{pid.ToString(CultureInfo.InvariantCulture)}.tmp";

    /// <summary>
    /// Before ADD changes anything: refuses an attachment whose record could never be written, so
    /// that a device never moves only to be moved back. A file name longer than NAME_MAX (255
    /// bytes: a very long container ID is 4, a very long network name 7), a path longer than
    /// PATH_MAX, a folder that cannot be made or written (5), a directory or another attachment's
    /// record in the way of this one's file (5, 4). What can still fail later (a full disk) is
    /// undone by the datapath's rollback.
    /// </summary>
    public void Preflight(string containerId, string ifName)
    {
        if (Encoding.UTF8.GetByteCount(Network) > NameMax)
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"network name of {Encoding.UTF8.GetByteCount(Network)} bytes is too long to record attachments under",
                $"a file name has at most {NameMax} bytes; fathom keeps records in {System.IO.Path.Combine("<dataDir>", "<name>")}");
        var path = PathOf(containerId, ifName);
        var longest = Encoding.UTF8.GetByteCount(TemporaryOf(path, int.MaxValue));
        if (Encoding.UTF8.GetByteCount(System.IO.Path.GetFileName(TemporaryOf(path, int.MaxValue))) > NameMax)
            throw new CniException(CniErrorCode.InvalidEnvironment,
                $"CNI_CONTAINERID of {containerId.Length} characters is too long to record the attachment",
                $"its record file {containerId}-{ifName}.json (and its temporary name) must fit in {NameMax} bytes");
        if (longest >= PathMax)
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"field \"dataDir\" is too long: the record of this attachment would have a path of {longest} bytes",
                $"a path has at most {PathMax - 1} bytes");
        try
        {
            Directory.CreateDirectory(Folder, OwnerOnly | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(CniErrorCode.IoFailure, $"cannot create the attachment record folder {Folder}", e.Message, e);
        }
        if (Interop.Access(Folder, Interop.W_OK | Interop.X_OK) != 0)
            throw new CniException(CniErrorCode.IoFailure, $"cannot write attachment records in {Folder}",
                Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        CheckOwnFile(path, containerId, ifName);
    }

    /// <summary>
    /// Writes <paramref name="record"/> atomically (temporary file, fsync, rename), replacing the
    /// record of the same attachment. Error 4 when the file belongs to another attachment whose
    /// ID and name join to the same file name ("a-b" + "c" and "a" + "b-c").
    /// </summary>
    public void Save(AttachmentRecord record)
    {
        var path = PathOf(record.ContainerId, record.IfName);
        CheckOwnFile(path, record.ContainerId, record.IfName);

        // Records hold whole configs, which may carry credentials: owner only, as libcni's cache.
        Directory.CreateDirectory(Folder, OwnerOnly | UnixFileMode.UserExecute);
        var temporary = TemporaryOf(path, Environment.ProcessId); // not *.json: never listed as a record
        var created = false;
        try
        {
            // A leftover of a killed plugin whose pid this one now has goes first; CreateNew
            // (O_EXCL) then never opens what someone else put there (a FIFO would block open(2)).
            File.Delete(temporary);
            using (var file = new FileStream(temporary, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = OwnerOnly,
                BufferSize = 0, // one write of the whole record: no 4 KiB buffer to allocate and copy through
            }))
            {
                created = true;
                file.Write(record.ToUtf8Json());
                // fsync before rename: after a crash of the kernel the name points at the whole record or the old one.
                file.Flush(flushToDisk: SyncWrites);
            }
            File.Move(temporary, path, overwrite: true); // rename(2)
        }
        catch
        {
            if (created) File.Delete(temporary);
            throw;
        }
    }

    // The file of this attachment, if there is one, must be a record of it (or an unreadable
    // regular file, replaced): not a directory (rename(2) cannot replace it), not another's record.
    private void CheckOwnFile(string path, string containerId, string ifName)
    {
        if (Interop.FileType(path) is not { } type) return;
        if (type == Interop.S_IFDIR)
            throw new CniException(CniErrorCode.IoFailure,
                $"the record file of attachment {containerId}/{ifName} is in the way: {path} is {Interop.DescribeFileType(type)}",
                "remove it; fathom only writes regular files there");
        if (type == Interop.S_IFREG && Read(path) is { Record: { } other }
            && (other.ContainerId != containerId || other.IfName != ifName))
            throw new CniException(CniErrorCode.InvalidEnvironment,
                $"attachment {containerId}/{ifName} and attachment {other.ContainerId}/{other.IfName} of network \"{Network}\" share the record file {path}",
                "container IDs and interface names that join to the same name cannot both be attached");
    }

    /// <summary>
    /// Holds the attachment's lock (flock(2) on <c>&lt;containerID&gt;-&lt;ifname&gt;.lock</c> beside its
    /// record) until disposed: ADD and DEL of one attachment run one after the other, so a DEL
    /// racing an ADD of the same container either undoes the whole ADD or runs before it — never
    /// between its attach and its record, which would leave a record of a device that is gone, or
    /// a device in the pod that no record names (GC could never release its address). Waits for
    /// the holder, a fathom bounded by its own time-outs. Null when the folder cannot hold a lock
    /// (no ADD can record there either).
    /// </summary>
    public AttachmentLock? Lock(string containerId, string ifName)
    {
        var path = System.IO.Path.ChangeExtension(PathOf(containerId, ifName), ".lock");
        try
        {
            Directory.CreateDirectory(Folder, OwnerOnly | UnixFileMode.UserExecute);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return null;
        }
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var fd = Interop.Open(path, Interop.O_RDWR | Interop.O_CREAT | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0b110_000_000);
            if (fd < 0) return null;
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            int result;
            do result = Interop.Flock(fd, Interop.LOCK_EX);
            while (result != 0 && Marshal.GetLastPInvokeError() == 4 /* EINTR */);
            // A holder that finished a DEL unlinks the file it held: a lock on that inode locks
            // nothing anyone else can find. Locked, and still the file at the path: ours.
            if (result == 0 && Interop.Identity(fd, "") is { } held && Interop.Identity(Interop.AT_FDCWD, path) == held)
                return new AttachmentLock(path, handle);
            handle.Dispose();
            if (result != 0) return null;
        }
        return null;
    }

    /// <summary>
    /// Removes the record of one attachment, if there is one (DEL is idempotent): a statx(2) and
    /// an unlink(2) — File.Delete ignores a missing file, and throws only when the folder is missing too.
    /// </summary>
    public void Remove(string containerId, string ifName)
    {
        var path = PathOf(containerId, ifName);
        // Only a record is removed: a directory, FIFO or socket named like one is not fathom's
        // (ADD refuses to attach over a directory), and failing on it would fail every DEL.
        if (Interop.FileType(path) is { } type && type != Interop.S_IFREG) return;
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
            // No ADD of this network was ever recorded here.
        }
        catch (PathTooLongException)
        {
            // A name no record can have (ADD refuses those before it attaches): nothing to remove.
        }
    }

    /// <summary>
    /// Every record of the network, in file-name order; files that are not readable records say
    /// why. Entries that are not regular files (a FIFO, a socket: reading one could block forever)
    /// are listed with <see cref="StoredAttachment.Skipped"/> set, never opened.
    /// </summary>
    public IReadOnlyList<StoredAttachment> List()
    {
        if (!Directory.Exists(Folder)) return [];
        var files = Directory.GetFiles(Folder, "*.json");
        Array.Sort(files, StringComparer.Ordinal);
        return [.. files.Select(Read)];
    }

    /// <summary>
    /// Removes the temporary files of record writes that will never finish: <c>*.PID.tmp</c> whose
    /// writer (PID) is gone — a plugin killed between creating it and the rename. Returns the
    /// files removed. A temporary file of a live process is its write in progress: left alone.
    /// </summary>
    public IReadOnlyList<string> RemoveStrayTemporaries()
    {
        if (!Directory.Exists(Folder)) return [];
        var removed = new List<string>();
        foreach (var file in Directory.GetFiles(Folder, "*.tmp"))
        {
            var parts = System.IO.Path.GetFileName(file).Split('.');
            if (parts.Length < 3 || !int.TryParse(parts[^2], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}")) continue;
            if (Interop.FileType(file) != Interop.S_IFREG) continue;
            try
            {
                File.Delete(file);
                removed.Add(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Tried again by the next GC.
            }
        }
        return removed;
    }

    /// <summary>
    /// The bytes of <paramref name="path"/> when it is a regular file of at most
    /// <paramref name="limit"/> bytes, else null and why. lstat(2) first and O_NONBLOCK: opening a
    /// FIFO someone put there would wait for a writer forever, a socket fails (ENXIO); the open
    /// descriptor is checked again (the path may have changed in between).
    /// </summary>
    internal static byte[]? ReadRegularFile(string path, long limit, out string? problem)
    {
        problem = null;
        if (Interop.FileType(path) is { } pathType && pathType != Interop.S_IFREG)
        {
            problem = $"not a regular file ({Interop.DescribeFileType(pathType)})";
            return null;
        }
        var fd = Interop.Open(path, Interop.O_RDONLY | Interop.O_NONBLOCK | Interop.O_CLOEXEC, 0);
        if (fd < 0)
        {
            problem = $"cannot read it: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";
            return null;
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Interop.FileType(fd) is var type && type != Interop.S_IFREG)
        {
            problem = $"not a regular file ({(type is { } t ? Interop.DescribeFileType(t) : "of unknown type")})";
            return null;
        }
        try
        {
            var length = RandomAccess.GetLength(handle);
            if (length > limit)
            {
                problem = $"too big for what fathom writes there: {length} bytes";
                return null;
            }
            var bytes = new byte[length];
            var read = 0;
            while (read < bytes.Length)
            {
                var n = RandomAccess.Read(handle, bytes.AsSpan(read), read);
                if (n == 0) break;
                read += n;
            }
            return read < bytes.Length ? bytes[..read] : bytes;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problem = $"cannot read it: {e.Message}";
            return null;
        }
    }

    /// <summary>
    /// Reads one record file: opened without blocking (O_NONBLOCK: a FIFO put there must not hang
    /// the plugin) and read only when the open descriptor is a regular file.
    /// </summary>
    public StoredAttachment Read(string path)
    {
        if (ReadRegularFile(path, MaxRecordBytes, out var unreadable) is not { } bytes)
            return unreadable!.StartsWith("not a regular file", StringComparison.Ordinal)
                ? new StoredAttachment(path, null, unreadable + ": skipped", Skipped: true)
                : new StoredAttachment(path, null, unreadable,
                    unreadable.StartsWith("too big", StringComparison.Ordinal) ? CniErrorCode.DecodeFailure : CniErrorCode.IoFailure);

        AttachmentRecord? record;
        try
        {
            record = JsonSerializer.Deserialize(bytes, AttachmentJson.Default.AttachmentRecord);
        }
        catch (JsonException e)
        {
            return new StoredAttachment(path, null, $"not an attachment record: {CniJson.Where(e)}", CniErrorCode.DecodeFailure);
        }
        catch (InvalidOperationException e)
        {
            // Text that is not valid Unicode (System.Text.Json checks it only when it makes the string).
            return new StoredAttachment(path, null, $"not an attachment record: {e.Message}", CniErrorCode.DecodeFailure);
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

/// <summary>An attachment's lock (<see cref="AttachmentStore.Lock"/>), released on dispose.</summary>
public sealed class AttachmentLock : IDisposable
{
    private readonly string _path;
    private readonly SafeFileHandle _handle;

    internal AttachmentLock(string path, SafeFileHandle handle) => (_path, _handle) = (path, handle);

    /// <summary>
    /// The attachment is gone (a DEL that removed its record): its lock file goes too, while it is
    /// still held — whoever waits on it finds it unlinked and takes the next one.
    /// </summary>
    public void RemoveFile() => Interop.Unlink(_path);

    /// <summary>Releases the lock (close(2)).</summary>
    public void Dispose() => _handle.Dispose();
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(AttachmentRecord))]
internal sealed partial class AttachmentJson : JsonSerializerContext;
