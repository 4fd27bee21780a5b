using System.Text.Json.Serialization;

namespace Fathom.Agent.Teardown;

/// <summary>The slow kernel work a DEL leaves to the agent (DESIGN §4, §9: ~22 ms per netns move, ~20 ms per veth delete).</summary>
public enum TeardownAction
{
    /// <summary>Move an underlay ENI out of the pod's namespace back to the host under its original name.</summary>
    [JsonStringEnumMemberName("returnEni")]
    ReturnEni,

    /// <summary>Delete a shared-mode pod's veth pair (by its host-side name).</summary>
    [JsonStringEnumMemberName("deleteVeth")]
    DeleteVeth,
}

/// <summary>
/// One teardown, recorded in <c>teardown/&lt;sequence&gt;.json</c> before DEL returns and removed once
/// done. Executors must be idempotent: a job whose work was done just before a crash runs again.
/// </summary>
public sealed record TeardownJob
{
    /// <summary>The <see cref="Kind"/> of teardown files.</summary>
    public const string FileKind = "fathom-agent-teardown";

    /// <summary>The format version this agent writes and reads up to.</summary>
    public const int FormatVersion = 1;

    /// <summary>What the file is.</summary>
    public string Kind { get; set; } = FileKind;

    /// <summary>Its format version.</summary>
    public int Version { get; set; } = FormatVersion;

    /// <summary>Order of recording; jobs run in this order. Set by <see cref="TeardownQueue.Enqueue"/>.</summary>
    public long Sequence { get; init; }

    /// <summary>What to do.</summary>
    public required TeardownAction Action { get; init; }

    /// <summary>
    /// The host-side device name the job gives back: the ENI's original name (<c>eth2</c>) or the
    /// veth's host name. An ADD that needs this name waits for the job (<see cref="TeardownQueue.WaitForDeviceAsync"/>).
    /// </summary>
    public required string Device { get; init; }

    /// <summary>The ENI concerned, if any.</summary>
    public string? EniId { get; init; }

    /// <summary>The ENI's MAC, to find it in the pod whatever it is called there.</summary>
    public string? Mac { get; init; }

    /// <summary>The pod's namespace, where the device is now (it may be gone: then the kernel already moved or deleted it).</summary>
    public string? NetnsPath { get; init; }

    /// <summary>The device's name inside the pod (CNI_IFNAME).</summary>
    public string? PodIfName { get; init; }

    /// <summary>
    /// A shared pod's IP: its rules (<c>to IP</c>, <c>from IP</c>) are removed by it, also after a
    /// restart when the veth and its host route are already gone. The IP is not handed out again
    /// while the job is pending. Null in jobs of older agents (then read from the kernel).
    /// </summary>
    public string? PodIp { get; init; }

    /// <summary>A shared pod's routing table (its ENI's), with <see cref="PodIp"/>.</summary>
    public int? RouteTable { get; init; }

    /// <summary>When the job was recorded.</summary>
    public DateTimeOffset EnqueuedAt { get; init; }
}

/// <summary>A job waiting or running, with its retry state.</summary>
/// <param name="Job">The job.</param>
/// <param name="Attempts">Failed attempts so far (since this agent started).</param>
/// <param name="LastError">Why the last attempt failed, or null.</param>
/// <param name="NotBefore">When the next attempt may start.</param>
public sealed record TeardownJobStatus(TeardownJob Job, int Attempts, string? LastError, DateTimeOffset NotBefore);

/// <summary>Does the kernel work of one job. Throwing means "try again later"; it must be idempotent.</summary>
public delegate Task TeardownExecutor(TeardownJob job, CancellationToken cancellationToken);

/// <summary>How <see cref="TeardownQueue"/> retries.</summary>
public sealed record TeardownQueueOptions
{
    /// <summary>The pause after a job's first failure; it doubles with each further failure.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest pause between two attempts of a job.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
}
