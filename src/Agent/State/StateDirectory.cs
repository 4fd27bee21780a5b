using System.Runtime.InteropServices;
using System.Text.Json;

namespace Fathom.Agent.State;

/// <summary>
/// The agent's state directory (default <c>/var/lib/fathom/agent</c>), held by one agent at a time
/// through an exclusive lock on <c>agent.lock</c> (released by the kernel however the agent dies).
/// Every file in it is written whole to <c>name.tmp</c>, fsync'ed, renamed over <c>name</c> and the
/// directory fsync'ed, so after a crash at any instant a file is either its old or its new content,
/// never half of one; a <c>*.tmp</c> found on load is a write that never happened and is removed.
/// A file that cannot be read (truncated by a failing disk, edited by hand, written by a newer agent)
/// is moved to <c>quarantine/</c> with a log line, never silently dropped, never a crash.
/// </summary>
public sealed class StateDirectory : IDisposable
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly FileStream _lock;

    private StateDirectory(string path, FileStream lockFile, AgentLog log, TimeProvider time, bool syncWrites)
    {
        SyncWrites = syncWrites;
        Path = path;
        _lock = lockFile;
        Log = log;
        Time = time;
    }

    /// <summary>Where the state lives.</summary>
    public string Path { get; }

    /// <summary>Where the state's components log.</summary>
    public AgentLog Log { get; }

    /// <summary>The clock of the state's time stamps.</summary>
    public TimeProvider Time { get; }

    /// <summary>
    /// Whether writes are fsync'ed (file, then directory) before they count as done. Without it a
    /// write is done once renamed into place: that survives any death of the agent process
    /// (SIGKILL, OOM kill), since the page cache outlives the process, but not a kernel crash or
    /// power loss. With it, each write costs two fsyncs (about 10 ms on this project's VMs).
    /// </summary>
    public bool SyncWrites { get; }

    /// <summary>Test hook: called with a step name before each step of a durable write, to simulate a crash there by throwing.</summary>
    internal Action<string>? CrashPoint { get; set; }

    /// <summary>Opens (creating, mode 0700) and locks <paramref name="path"/>.</summary>
    /// <exception cref="InvalidOperationException">Another agent holds the directory.</exception>
    /// <param name="path">The directory.</param>
    /// <param name="log">Where the state's components log.</param>
    /// <param name="time">The clock of time stamps, cooldowns and backoff.</param>
    /// <param name="syncWrites">See <see cref="SyncWrites"/>.</param>
    public static StateDirectory Open(string path, AgentLog? log = null, TimeProvider? time = null, bool syncWrites = true)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(path, OwnerOnlyDirectory);
        var lockPath = System.IO.Path.Combine(path, "agent.lock");
        try
        {
            // FileShare.None is flock(LOCK_EX | LOCK_NB) on Linux.
            var lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new StateDirectory(path, lockFile, log ?? AgentLog.None, time ?? TimeProvider.System, syncWrites);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"another fathom-agent holds the state directory {path} ({lockPath} is locked)", e);
        }
    }

    /// <summary>A subdirectory (created 0700), e.g. <c>allocations</c>.</summary>
    internal string Subdirectory(string name)
    {
        var path = System.IO.Path.Combine(Path, name);
        if (!Directory.Exists(path))
        {
            Directory.CreateDirectory(path, OwnerOnlyDirectory);
            SyncDirectory(Path);
        }
        return path;
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="content"/> atomically and durably.</summary>
    /// <remarks>
    /// The temporary is created new (<c>O_EXCL</c>), never truncated: a truncate to size 0 marks an
    /// ext4 file for a flush at close (auto_da_alloc, the replace-by-truncate heuristic) — every write
    /// then started its own writeback in close(2), more than half of an allocation's write (perf: 197
    /// of 378 samples; 0.09 against 0.04 ms a write measured alone). A temporary left by a write that
    /// failed is removed when the create finds it. The calls are the system's own — open, write,
    /// (fsync,) close, rename: a FileStream added an unlink and a stat before them, and an fstatfs,
    /// two flocks, an lseek and an lstat around them (11 calls for a record, strace of a lab agent).
    /// </remarks>
    /// <exception cref="IOException">A call failed; the message names the file and the system's reason.</exception>
    internal void WriteAtomically(string path, ReadOnlySpan<byte> content)
    {
        var temporary = path + ".tmp";
        Step("write-temporary");
        var fd = CreateNew(temporary);
        try
        {
            while (!content.IsEmpty)
            {
                var written = Interop.Write(fd, content, (nuint)content.Length);
                if (written < 0)
                {
                    if (Marshal.GetLastPInvokeError() == Interop.EIntr) continue;
                    throw Failed($"write of {temporary}");
                }
                content = content[(int)written..];
            }
            Step("fsync-temporary");
            if (SyncWrites && Interop.Fsync(fd) != 0)
                throw Failed($"fsync of {temporary}");
        }
        finally
        {
            Interop.Close(fd);
        }
        Step("rename");
        if (Interop.Rename(temporary, path) != 0)
            throw Failed($"rename of {temporary} to {System.IO.Path.GetFileName(path)}");
        Step("fsync-directory");
        SyncDirectory(System.IO.Path.GetDirectoryName(path)!);
    }

    private static int CreateNew(string path)
    {
        const int flags = Interop.OWrOnly | Interop.OCreat | Interop.OExcl | Interop.OCloExec;
        const uint ownerOnly = (uint)OwnerOnlyFile;
        var fd = Interop.Open(path, flags, ownerOnly);
        if (fd < 0 && Marshal.GetLastPInvokeError() == Interop.EExist)
        {
            File.Delete(path); // what a write that failed here left
            fd = Interop.Open(path, flags, ownerOnly);
        }
        return fd >= 0 ? fd : throw Failed($"create of {path}");
    }

    // The last call's errno as .NET words it ("No space left on device"), after what failed.
    private static IOException Failed(string what) =>
        new($"{what} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");

    /// <summary>Removes <paramref name="path"/> durably; false when it was not there.</summary>
    internal bool DeleteDurably(string path)
    {
        Step("delete");
        if (Interop.Unlink(path) != 0)
            return Marshal.GetLastPInvokeError() == Interop.ENoEnt ? false : throw Failed($"unlink of {path}");
        Step("fsync-directory");
        SyncDirectory(System.IO.Path.GetDirectoryName(path)!);
        return true;
    }

    /// <summary>
    /// The files of <paramref name="directory"/> matching <paramref name="pattern"/>, in name order,
    /// after removing the <c>*.tmp</c> left by writes a crash cut short.
    /// </summary>
    internal IReadOnlyList<string> Files(string directory, string pattern = "*.json")
    {
        foreach (var stray in Directory.EnumerateFiles(directory, "*.tmp"))
        {
            File.Delete(stray);
            Log.Info("state.stray-removed", $"removed {stray}: a write cut short by a crash, never committed", ("file", stray));
        }
        var files = Directory.GetFiles(directory, pattern);
        Array.Sort(files, StringComparer.Ordinal);
        return files;
    }

    /// <summary>Moves an unreadable file to <c>quarantine/</c> and says why; never throws.</summary>
    internal void Quarantine(string path, string reason)
    {
        try
        {
            var quarantine = Subdirectory("quarantine");
            var relative = System.IO.Path.GetRelativePath(Path, path).Replace('/', '_');
            var target = System.IO.Path.Combine(quarantine, $"{relative}.{Time.GetUtcNow():yyyyMMdd'T'HHmmssfff'Z'}");
            File.Move(path, target, overwrite: true);
            SyncDirectory(System.IO.Path.GetDirectoryName(path)!);
            Log.Warning("state.quarantined", $"moved {path} to {target}: {reason}", ("file", path), ("quarantinedAs", target), ("reason", reason));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log.Error("state.quarantine-failed", $"could not quarantine {path} ({reason}): {e.Message}; ignoring it", ("file", path), ("reason", reason));
        }
    }

    /// <summary>
    /// Reads a state file's <c>kind</c> and <c>version</c> before anything else, so a file of a
    /// newer agent is reported as such rather than as whatever its new shape fails on. Null when
    /// the file is fine to deserialize; otherwise why not.
    /// </summary>
    internal static string? CheckHeader(ReadOnlySpan<byte> json, string expectedKind, int readableVersion)
    {
        string? kind = null;
        int? version = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return "not a JSON object";
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("kind"u8))
                {
                    reader.Read();
                    kind = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("version"u8))
                {
                    reader.Read();
                    version = reader.TokenType == JsonTokenType.Number && reader.TryGetInt32(out var v) ? v : null;
                }
                else
                {
                    reader.Read();
                }
                reader.Skip();
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
                return "not one JSON object";
        }
        catch (JsonException e)
        {
            return $"not valid JSON (truncated or corrupt): {e.Message}";
        }
        catch (InvalidOperationException e)
        {
            // What Utf8JsonReader.GetString throws for a string that is not valid UTF-8.
            return $"not valid JSON (corrupt): {e.Message}";
        }
        if (kind != expectedKind)
            return $"kind is '{kind}', expected '{expectedKind}'";
        if (version is not { } found)
            return "no integer 'version'";
        if (found > readableVersion)
            return $"written by a newer fathom-agent (format version {found}, this agent reads up to {readableVersion})";
        if (found < 1)
            return $"format version {found} is not valid";
        return null;
    }

    private void Step(string name) => CrashPoint?.Invoke(name);

    /// <summary>fsync(2) of a directory, so a rename or unlink in it survives a power cut (ext4, xfs).</summary>
    private void SyncDirectory(string directory)
    {
        if (!SyncWrites)
            return;
        var fd = Interop.Open(directory, Interop.ORdOnly | Interop.ODirectory | Interop.OCloExec);
        if (fd < 0)
            throw new IOException($"cannot open {directory} to sync it: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Interop.Fsync(fd) != 0)
                throw new IOException($"fsync of {directory} failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            Interop.Close(fd);
        }
    }

    /// <summary>Releases the directory's lock (what a crash does too).</summary>
    public void Dispose() => _lock.Dispose();
}
