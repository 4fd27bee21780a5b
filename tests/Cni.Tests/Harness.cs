using System.Text;
using System.Text.Json.Nodes;

namespace Fathom.Cni.Tests;

/// <summary>What a runtime sees of one plugin run: the exit status and stdout.</summary>
internal sealed record PluginOutput(int ExitCode, string Stdout)
{
    public JsonObject Json => JsonNode.Parse(Stdout) as JsonObject
        ?? throw new InvalidOperationException($"stdout is not a JSON object: {Stdout}");

    /// <summary>The error code of a failed run (asserting it failed with a well-formed error).</summary>
    public int ErrorCode
    {
        get
        {
            Assert.True(ExitCode != 0, $"expected a failure, got exit 0 and {Stdout}");
            return (int)Json["code"]!;
        }
    }

    public PluginOutput Succeeded()
    {
        Assert.True(ExitCode == 0, $"exit {ExitCode}: {Stdout}");
        return this;
    }
}

/// <summary>Runs the core in-process the way the plugin's Main does, with a test datapath.</summary>
internal static class InProcess
{
    public static Dictionary<string, string> Env(string command, string ifName = "eth0") => new()
    {
        ["CNI_COMMAND"] = command,
        ["CNI_CONTAINERID"] = "ctr-1",
        ["CNI_NETNS"] = "/var/run/netns/ftest-cni-none",
        ["CNI_IFNAME"] = ifName,
        ["CNI_PATH"] = "/usr/lib/cni",
    };

    public static PluginOutput Run(IDatapath datapath, IReadOnlyDictionary<string, string> env, string stdin, TextWriter? stderr = null) =>
        Run(datapath, env, Encoding.UTF8.GetBytes(stdin), stderr);

    /// <summary>Runs with stdin as bytes: configs that are not valid UTF-8 cannot be written as a string.</summary>
    public static PluginOutput Run(IDatapath datapath, IReadOnlyDictionary<string, string> env, byte[] stdin, TextWriter? stderr = null)
    {
        // The plugin's command table, and one mode, "test", the default: the core knows no real mode.
        var modes = new CniModes(defaultMode: "test") { ["test"] = _ => datapath };
        using var output = new MemoryStream();
        var exit = CniSkeleton.Run(CniCommands.Table, modes, new CniInvocation
        {
            Environment = env,
            Stdin = new MemoryStream(stdin),
            Stdout = output,
            Stderr = stderr ?? TextWriter.Null,
        });
        return new PluginOutput(exit, Encoding.UTF8.GetString(output.ToArray()));
    }

    public static PluginOutput Run(string command, string stdin, TestDatapath? datapath = null) =>
        Run(datapath ?? new TestDatapath(), Env(command), stdin);
}

/// <summary>
/// A datapath that records what the core asked of it and can be told to fail: it tests the
/// core's sequencing (IPAM release on failure, DEL always releasing), not any kernel behaviour.
/// </summary>
internal sealed class TestDatapath : IDatapath
{
    public List<string> Calls { get; } = [];
    public Exception? FailAdd { get; set; }
    /// <summary>Fails ADD before asking IPAM (a device not found, a pod's ifname taken).</summary>
    public Exception? FailAddBeforeAllocate { get; set; }
    public Exception? FailDelete { get; set; }
    public Exception? FailCheck { get; set; }
    public CniStatus StatusResult { get; set; } = CniStatus.Available;
    public CniResult? IpamResultSeen { get; private set; }
    public CniResult? PrevResultSeen { get; private set; }
    public CniRequest? LastRequest { get; private set; }
    public IReadOnlySet<(string ContainerId, string IfName)>? Attachments { get; private set; }

    /// <summary>Set when the record callback failed (the core's record write), so tests see the rollback was asked for.</summary>
    public Exception? RecordFailure { get; private set; }

    /// <summary>Runs after the attach, just before the core records it (a record folder made unwritable meanwhile).</summary>
    public Action? BeforeRecord { get; set; }

    public CniResult Add(CniRequest request, Func<CniResult?> allocate, Action<CniResult> record)
    {
        Calls.Add("ADD");
        LastRequest = request;
        if (FailAddBeforeAllocate is not null) throw FailAddBeforeAllocate;
        var ipamResult = IpamResultSeen = allocate();
        if (FailAdd is not null) throw FailAdd;
        var result = new CniResult
        {
            Interfaces = [new CniInterface(request.IfName, "02:42:ac:11:00:02", 1500, request.NetnsPath)],
        };
        if (ipamResult is not null)
        {
            result.Ips.AddRange(ipamResult.Ips.Select(ip => ip with { Interface = 0 }));
            result.Routes.AddRange(ipamResult.Routes);
        }
        BeforeRecord?.Invoke();
        try
        {
            record(result);
        }
        catch (Exception e)
        {
            RecordFailure = e;
            Calls.Add("UNDO");
            throw;
        }
        return result;
    }

    public void Delete(CniRequest request, CniResult? prevResult)
    {
        Calls.Add("DEL");
        LastRequest = request;
        PrevResultSeen = prevResult;
        if (FailDelete is not null) throw FailDelete;
    }

    public void Check(CniRequest request, CniResult prevResult)
    {
        Calls.Add("CHECK");
        PrevResultSeen = prevResult;
        if (FailCheck is not null) throw FailCheck;
    }

    public void GarbageCollect(IReadOnlySet<(string ContainerId, string IfName)> validAttachments)
    {
        Calls.Add("GC");
        Attachments = validAttachments;
    }

    public CniStatus Status()
    {
        Calls.Add("STATUS");
        return StatusResult;
    }
}

/// <summary>Codes a mode of its own would fail with (≥ 100: the core passes them through unchanged).</summary>
internal static class ModeErrors
{
    public const CniErrorCode DeviceNotFound = (CniErrorCode)100;
    public const CniErrorCode DeviceBusy = (CniErrorCode)101;
    public const CniErrorCode IfNameExists = (CniErrorCode)103;
}

/// <summary>Spec versions as xunit data.</summary>
public static class Versions
{
    public static TheoryData<string> All => [.. CniVersion.Supported];
    public static TheoryData<string> WithCheck => [.. CniVersion.Supported.Where(v => CniVersion.AtLeast(v, "0.4.0"))];
    public static TheoryData<string> WithoutCheck => [.. CniVersion.Supported.Where(v => !CniVersion.AtLeast(v, "0.4.0"))];
    public static TheoryData<string> WithoutGc => [.. CniVersion.Supported.Where(v => !CniVersion.AtLeast(v, "1.1.0"))];
}
