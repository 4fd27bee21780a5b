using System.Runtime.ExceptionServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Cni;

/// <summary>What a command handler gets besides the request: the mode's datapath and the IPAM plugin, if any.</summary>
/// <param name="Datapath">The datapath of the config's mode.</param>
/// <param name="Ipam">The delegated IPAM plugin, or null when the config has no <c>ipam.type</c>.</param>
/// <param name="Environment">
/// The invocation's environment, passed on to the IPAM plugins GC runs for recorded attachments
/// (as the reference pkg/invoke passes the plugin's own).
/// </param>
/// <param name="Diagnostics">Where a command says what it skipped (stderr: the runtime's log), never parsed.</param>
public sealed record CniContext(IDatapath Datapath, IpamPlugin? Ipam, IReadOnlyDictionary<string, string> Environment,
    TextWriter? Diagnostics = null);

/// <summary>A command handler: returns the result to print (ADD) or null (every other command).</summary>
public delegate CniResult? CniHandler(CniRequest request, CniContext context);

/// <summary>
/// The spec's logic for each command around one datapath (CNI spec 1.1 §"CNI Operations"):
/// delegated IPAM, releasing it when ADD fails, idempotent DEL that always releases, chaining
/// through prevResult, and the attachment records (<see cref="AttachmentStore"/>) that let GC
/// release what the runtime forgot. <see cref="Table"/> maps CNI_COMMAND to these.
/// </summary>
public static class CniCommands
{
    /// <summary>The handler of each command (VERSION aside: the skeleton answers it), as the reference plugins' <c>main</c> lists them.</summary>
    public static readonly IReadOnlyDictionary<CniCommand, CniHandler> Table = new Dictionary<CniCommand, CniHandler>
    {
        [CniCommand.Add] = Add,
        [CniCommand.Del] = Delete,
        [CniCommand.Check] = Check,
        [CniCommand.Status] = Status,
        [CniCommand.Gc] = GarbageCollect,
    };

    /// <summary>The CNI_COMMAND spelling of <paramref name="command"/>.</summary>
    public static string Name(CniCommand command) => command switch
    {
        CniCommand.Add => "ADD",
        CniCommand.Del => "DEL",
        CniCommand.Check => "CHECK",
        CniCommand.Status => "STATUS",
        CniCommand.Gc => "GC",
        CniCommand.Version => "VERSION",
        _ => command.ToString(),
    };

    /// <summary>Parses a CNI_COMMAND value (exact, upper case, as the spec spells them).</summary>
    public static bool TryParse(string? value, out CniCommand command)
    {
        (var ok, command) = value switch
        {
            "ADD" => (true, CniCommand.Add),
            "DEL" => (true, CniCommand.Del),
            "CHECK" => (true, CniCommand.Check),
            "STATUS" => (true, CniCommand.Status),
            "GC" => (true, CniCommand.Gc),
            "VERSION" => (true, CniCommand.Version),
            _ => (false, default),
        };
        return ok;
    }

    /// <summary>
    /// ADD: refuses first an attachment that could never be recorded (before anything changes);
    /// then the datapath attaches, has IPAM allocate when its interface is ready, and has the
    /// attachment recorded once it is complete (see <see cref="IDatapath.Add"/>), so that its one
    /// rollback also covers a record that cannot be written. On any failure after the allocation
    /// the allocation is released (IPAM DEL), and a record already written removed, before the
    /// error is reported. In a chain the result is appended to prevResult, interface indexes
    /// shifted past the previous interfaces.
    /// </summary>
    public static CniResult? Add(CniRequest request, CniContext context)
    {
        var store = AttachmentStore.For(request.Config);
        store.Preflight(request.ContainerId, request.IfName);
        using var held = store.Lock(request.ContainerId, request.IfName)
            ?? throw new CniException(CniErrorCode.IoFailure,
                $"cannot lock attachment {request.ContainerId}/{request.IfName} in {store.Folder}");
        CniSteps.Mark("lock the attachment");

        var add = new AddInProgress(request, context, store);
        try
        {
            var own = context.Datapath.Add(request, add.Allocate, add.Record);
            if (add.Recorded is null)
            {
                // A mode that never recorded (or never asked IPAM) would leave an attachment GC cannot see, or a
                // pod without its addresses: undo, and say so loudly.
                context.Datapath.Delete(request, own);
                throw new InvalidOperationException(add.Asked
                    ? "the datapath attached without recording the attachment"
                    : "the datapath attached without asking IPAM to allocate");
            }
            return add.Recorded;
        }
        catch (Exception failure)
        {
            held.RemoveFile(); // nothing of this attachment is left to serialize with
            var notes = add.Undo();
            if (notes.Count == 0) throw;
            throw WithNote(failure, string.Join(" ", notes));
        }
    }

    /// <summary>
    /// One ADD's allocation and record, handed to the datapath as the callbacks of
    /// <see cref="IDatapath.Add"/>, and undone by <see cref="Undo"/> when anything after them fails.
    /// </summary>
    private sealed class AddInProgress(CniRequest request, CniContext context, AttachmentStore store)
    {
        private CniResult? _ipamResult;
        private bool _allocated;

        public bool Asked { get; private set; }

        public CniResult? Recorded { get; private set; }

        public CniResult? Allocate()
        {
            if (Asked) throw new InvalidOperationException("the datapath asked IPAM to allocate twice");
            Asked = true;
            if (context.Ipam is null) return null;
            try
            {
                // fathom releases nothing after a failed IPAM ADD: a plugin that fails cleans up
                // after itself, one whose result is unreadable was already given it back
                // (IpamPlugin.Add), and one that timed out is left to the runtime's DEL.
                _ipamResult = context.Ipam.Add();
            }
            catch (Exception e) when (e is not CniException)
            {
                // The datapath undoes its attach on a CniException; anything else is still IPAM's failure.
                throw new CniException(CniErrorCode.IpamFailure, $"ipam plugin \"{context.Ipam.Type}\" failed ADD: {e.Message}", null, e);
            }
            _allocated = true;
            return _ipamResult;
        }

        public void Record(CniResult own)
        {
            if (!Asked) throw new InvalidOperationException("the datapath recorded the attachment without asking IPAM to allocate");
            if (Recorded is not null) throw new InvalidOperationException("the datapath recorded the attachment twice");
            var config = request.Config;
            // As the reference bridge plugin: the config's dns wins, else what IPAM said.
            own.Dns ??= config.Dns is { IsEmpty: false } ? config.Dns : _ipamResult?.Dns;
            var result = config.PrevResult is { } prev ? Append(prev, own) : own;
            try
            {
                store.Save(AttachmentRecord.Of(request, result));
                CniSteps.Mark("record the attachment");
            }
            catch (Exception e) when (e is not CniException)
            {
                throw new CniException(CniException.CodeFor(e),
                    $"cannot record attachment {request.ContainerId}/{request.IfName} in {store.Folder}", e.Message, e);
            }
            Recorded = result;
        }

        /// <summary>After a failure: the record goes, the address is released; returns what could not be undone.</summary>
        public List<string> Undo()
        {
            var notes = new List<string>();
            if (Recorded is not null)
            {
                // The datapath failed after the record was written (it found its attachment gone): the record goes too.
                try
                {
                    store.Remove(request.ContainerId, request.IfName);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    notes.Add($"and its record could not be removed: {e.Message}");
                }
            }
            if (_allocated && context.Ipam is not null)
            {
                try
                {
                    context.Ipam.Delete();
                }
                catch (CniException release)
                {
                    // Report the datapath's failure (the cause); say the address may still be held.
                    notes.Add($"and releasing the address with ipam plugin \"{context.Ipam.Type}\" failed too: {release.Message}");
                }
            }
            return notes;
        }
    }

    /// <summary>
    /// DEL: the datapath detaches (idempotent, netns may be gone), then IPAM releases — always,
    /// even when the datapath failed, so a pod that is gone never keeps its address
    /// (CNI spec 1.1 §DEL: "clean up as many resources as possible"). Once both succeeded the
    /// attachment's record goes; while anything failed it stays, so a GC can finish the job if
    /// the runtime gives up on the DEL. No record (a repeated DEL, an ADD from before records) is fine.
    /// </summary>
    public static CniResult? Delete(CniRequest request, CniContext context)
    {
        var store = AttachmentStore.For(request.Config);
        // One at a time with an ADD of the same attachment (AttachmentStore.Lock); a folder that
        // cannot hold the lock cannot hold a record either: nothing to wait for.
        using var held = store.Lock(request.ContainerId, request.IfName);
        CniSteps.Mark("lock the attachment");
        ExceptionDispatchInfo? failure = null;
        try
        {
            context.Datapath.Delete(request, request.Config.PrevResult);
        }
        catch (Exception e)
        {
            failure = ExceptionDispatchInfo.Capture(e);
        }

        if (context.Ipam is not null)
        {
            try
            {
                context.Ipam.Delete();
            }
            catch (CniException release) when (failure is not null)
            {
                throw WithNote(failure.SourceException, $"and ipam plugin \"{context.Ipam.Type}\" failed to release: {release.Message}");
            }
        }
        failure?.Throw();

        try
        {
            store.Remove(request.ContainerId, request.IfName);
            held?.RemoveFile();
            CniSteps.Mark("remove the record");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CniException(CniErrorCode.IoFailure,
                $"cannot remove the record of attachment {request.ContainerId}/{request.IfName} from {store.Folder}",
                $"{e.Message}; the address is released, a DEL again removes the record", e);
        }
        return null;
    }

    /// <summary>CHECK: needs prevResult; IPAM checks its allocation first, then the datapath compares live state.</summary>
    public static CniResult? Check(CniRequest request, CniContext context)
    {
        var prev = request.Config.PrevResult ?? throw new CniException(CniErrorCode.InvalidNetworkConfig,
            "CHECK needs \"prevResult\" in the config", "the runtime must pass the result of the ADD (CNI spec 1.1 §CHECK)");
        context.Ipam?.Check();
        context.Datapath.Check(request, prev);
        return null;
    }

    /// <summary>STATUS: IPAM's status, then the datapath's (50/51 when it cannot serve ADD).</summary>
    public static CniResult? Status(CniRequest request, CniContext context)
    {
        context.Ipam?.Status();
        var status = context.Datapath.Status();
        if (status.Problem is { } problem)
            throw new CniException(problem, status.Message ?? $"network \"{request.Config.Name}\" is not available");
        return null;
    }

    /// <summary>
    /// GC (CNI spec 1.1 §GC): every recorded attachment of this network that
    /// <c>cni.dev/valid-attachments</c> does not list is released as a DEL without a netns
    /// would — IPAM DEL with the config it was added with, then the datapath — and its record
    /// removed. Then the IPAM plugin's own GC (when its version has one) and the datapath's.
    /// One failure does not stop the rest: every stale attachment is tried, and the first error
    /// is reported with the others in its details. A record that cannot be read is left in place
    /// and named in the error, never deleted unseen.
    /// </summary>
    public static CniResult? GarbageCollect(CniRequest request, CniContext context)
    {
        var valid = request.Config.ValidAttachments;
        var failures = new List<CniException>();
        var store = AttachmentStore.For(request.Config);
        foreach (var stray in store.RemoveStrayTemporaries())
            context.Diagnostics?.WriteLine($"fathom GC: removed {stray}, a record write its plugin never finished");
        foreach (var stored in store.List())
        {
            if (stored.Skipped)
            {
                context.Diagnostics?.WriteLine($"fathom GC: skipped {stored.Path}: {stored.Problem}");
                continue;
            }
            if (stored.Record is not { } record)
            {
                failures.Add(new CniException(stored.Code, $"attachment record {stored.Path} is unreadable: {stored.Problem}",
                    "left in place; remove it once its attachment is released by hand"));
                continue;
            }
            if (valid.Contains((record.ContainerId, record.IfName))) continue;
            try
            {
                Release(request, context, store, record);
            }
            catch (Exception e)
            {
                failures.Add(new CniException(CniException.CodeFor(e),
                    $"releasing stale attachment {record.ContainerId}/{record.IfName} failed: {e.Message}",
                    (e as CniException)?.Details, e));
            }
        }

        try
        {
            context.Ipam?.GarbageCollect();
        }
        catch (CniException e)
        {
            failures.Add(e);
        }
        try
        {
            context.Datapath.GarbageCollect(valid);
        }
        catch (Exception e)
        {
            failures.Add(e as CniException ?? new CniException(CniException.CodeFor(e), e.Message, null, e));
        }

        if (failures.Count == 1) throw failures[0];
        if (failures.Count > 1)
            throw WithNote(failures[0], $"{failures.Count - 1} more: " + string.Join("; ", failures.Skip(1).Select(f => f.Message)));
        return null;
    }

    // One stale attachment, released as its DEL would have: IPAM DEL with the config the ADD had
    // (the IPAM section may have changed since), CNI_CONTAINERID/CNI_IFNAME of the attachment and
    // no CNI_NETNS; then the datapath, whose DEL without a netns undoes what it keeps outside the
    // pod. Both are tried; the record goes only when both succeeded.
    private static void Release(CniRequest gc, CniContext context, AttachmentStore store, AttachmentRecord record)
    {
        var config = NetworkConfig.Parse(record.Config, teardown: true);
        using var held = store.Lock(record.ContainerId, record.IfName); // not while its ADD or DEL runs
        var request = new CniRequest
        {
            Command = CniCommand.Del,
            ContainerId = record.ContainerId,
            IfName = record.IfName,
            NetnsPath = null,
            CniPath = gc.CniPath,
            Mode = gc.Mode,
            Config = config,
        };
        ExceptionDispatchInfo? failure = null;
        if (config.IpamType is not null)
        {
            try
            {
                new IpamPlugin(config, gc.CniPath, AttachmentEnvironment(gc, context, record)).Delete();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        }
        try
        {
            var prev = record.Result is { ValueKind: JsonValueKind.Object } result
                ? CniResultJson.Parse(JsonObject.Create(result)!, "the recorded result", CniErrorCode.DecodeFailure)
                : null;
            context.Datapath.Delete(request, prev);
        }
        catch (Exception e)
        {
            failure ??= ExceptionDispatchInfo.Capture(e); // the IPAM failure, if any, is the one to report
        }
        failure?.Throw();
        store.Remove(record.ContainerId, record.IfName);
        held?.RemoveFile();
    }

    // The environment an IPAM DEL of the attachment gets: the invocation's, with the CNI_*
    // variables of that attachment's DEL (CNI_COMMAND is set by DelegatedPlugin).
    private static Dictionary<string, string> AttachmentEnvironment(CniRequest gc, CniContext context, AttachmentRecord record)
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in context.Environment)
            if (!key.StartsWith("CNI_", StringComparison.Ordinal)) environment[key] = value;
        environment["CNI_CONTAINERID"] = record.ContainerId;
        environment["CNI_IFNAME"] = record.IfName;
        environment["CNI_PATH"] = string.Join(':', gc.CniPath);
        return environment;
    }

    /// <summary>
    /// The chained result (CNI spec 1.1 §"Chained plugins"): prevResult's interfaces, IPs and
    /// routes, then this plugin's, with its IPs' interface indexes shifted accordingly.
    /// </summary>
    public static CniResult Append(CniResult prev, CniResult own)
    {
        var merged = prev.Clone();
        var offset = prev.Interfaces.Count;
        merged.Interfaces.AddRange(own.Interfaces);
        foreach (var ip in own.Ips)
            merged.Ips.Add(ip.Interface is int i ? ip with { Interface = i + offset } : ip);
        merged.Routes.AddRange(own.Routes);
        merged.Dns = own.Dns ?? prev.Dns;
        return merged;
    }

    private static CniException WithNote(Exception failure, string note) => failure switch
    {
        CniException c => new CniException(c.Code, c.Message, c.Details is null ? note : $"{c.Details}; {note}", c),
        _ => new CniException(CniException.CodeFor(failure), failure.Message, note, failure),
    };
}
