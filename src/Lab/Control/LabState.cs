using System.Text.Json;
using System.Text.Json.Serialization;

namespace Fathom.Lab.Control;

/// <summary>What <c>lab up</c> asks for: the command-line flags.</summary>
public sealed record LabOptions
{
    /// <summary>How many instances (nodes) the lab launches.</summary>
    public int Nodes { get; init; } = 2;
    /// <summary>Their instance type, one of <see cref="Ec2.InstanceTypeLimits.Known"/>.</summary>
    public string InstanceType { get; init; } = "t3.medium";
    /// <summary>How many /20 subnets the VPC has; every node's primary ENI is in the first.</summary>
    public int Subnets { get; init; } = 1;
    /// <summary>Delay before AttachNetworkInterface completes (EC2 takes seconds).</summary>
    public int AttachLatencyMs { get; init; }
    /// <summary>Fraction of API calls answered RequestLimitExceeded.</summary>
    public double ThrottleRate { get; init; }
    /// <summary>Fraction of API calls answered InternalError / Unavailable.</summary>
    public double ErrorRate { get; init; }
    /// <summary>How long a just-attached ENI stays invisible in IMDS (AWS: up to seconds).</summary>
    public int ImdsDelayMs { get; init; }
    /// <summary>
    /// Faults in <see cref="Ec2.FaultPlan.Parse"/>'s syntax, the only way to give them per action
    /// (<c>throttle:AttachNetworkInterface=0.5,error:CreateNetworkInterface=0.1</c>); the three
    /// settings above, when not zero, apply on top for all actions.
    /// </summary>
    public string? Faults { get; init; }

    /// <summary>Throws with a message fit for the operator when a value is out of range.</summary>
    public void Validate()
    {
        if (Nodes is < 1 or > 64) throw new ArgumentException("--nodes must be 1..64");
        if (!Ec2.InstanceTypeLimits.Known.Any(t => t.Name == InstanceType))
            throw new ArgumentException($"--instance-type: unknown '{InstanceType}' (known: {string.Join(", ", Ec2.InstanceTypeLimits.Known.Select(t => t.Name))})");
        if (Subnets is < 1 or > LabLayout.MaxSubnets) throw new ArgumentException($"--subnets must be 1..{LabLayout.MaxSubnets}");
        if (AttachLatencyMs < 0 || ImdsDelayMs < 0) throw new ArgumentException("latencies must be >= 0");
        if (ThrottleRate is < 0 or > 1 || ErrorRate is < 0 or > 1) throw new ArgumentException("rates must be within 0..1");
        if (Faults is not null)
        {
            try { Ec2.FaultPlan.Parse(Faults); }
            catch (FormatException e) { throw new ArgumentException($"--faults: {e.Message}", e); }
        }
    }
}

/// <summary>Lab lifecycle as recorded in lab.json.</summary>
public enum LabPhase { Starting, Ready, Failed }

/// <summary>
/// lab.json: everything <c>lab status</c>, <c>lab env</c> and <c>lab down</c> need. Written by
/// <c>lab up</c> (options, server pid) and by the lab server (topology, endpoints, child pids)
/// — never both at once: <c>up</c> only waits once the server is started.
/// </summary>
public sealed record LabState
{
    public required string Prefix { get; init; }
    public required LabOptions Options { get; init; }
    public LabPhase Phase { get; init; }
    public string? Error { get; init; }
    public int ServerPid { get; init; }
    public IReadOnlyList<int> DnsmasqPids { get; init; } = [];
    public required LabCredentials Credentials { get; init; }
    /// <summary>Port of the EC2 endpoint on 127.0.0.1 in the root netns.</summary>
    public int LoopbackPort { get; init; }
    /// <summary>The EC2 endpoint as instances see it, e.g. http://10.0.0.1 (inside the VPC).</summary>
    public string? VpcEndpoint { get; init; }
    public string VpcNetns { get; init; } = "";
    public string VpcId { get; init; } = "";
    public IReadOnlyList<LabSubnet> Subnets { get; init; } = [];
    public IReadOnlyList<LabNode> Nodes { get; init; } = [];

    public string LoopbackEndpoint => $"http://127.0.0.1:{LoopbackPort}";
}

/// <summary>The lab's AWS credentials: SigV4 requests must be signed with them.</summary>
public sealed record LabCredentials(string AccessKeyId, string SecretAccessKey, string Region);

public sealed record LabSubnet(string SubnetId, string Cidr, string Gateway, string Bridge, string AvailabilityZone);

public sealed record LabNode(string Name, string Netns, string InstanceId, string InstanceType, string PrimaryIp, string Mac, string SubnetId);

/// <summary>A pod as recorded by whoever made it (<c>lab pod add</c>, the CNI plugin's tests, run.sh).</summary>
public sealed record LabPod(string Name, string Netns, string Node, string Mode, IReadOnlyList<string> Ips, string? EniId = null, string? Mac = null);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LabState))]
[JsonSerializable(typeof(List<LabPod>))]
internal sealed partial class LabJsonContext : JsonSerializerContext;

/// <summary>Reads and writes the lab's state files atomically (write to a temp file, then rename).</summary>
public static class LabStateStore
{
    public static LabState? TryLoad(LabLayout layout)
    {
        try
        {
            using var stream = File.OpenRead(layout.StateFile);
            return JsonSerializer.Deserialize(stream, LabJsonContext.Default.LabState);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return null;
        }
    }

    public static void Save(LabLayout layout, LabState state) =>
        WriteAtomically(layout.StateFile, JsonSerializer.SerializeToUtf8Bytes(state, LabJsonContext.Default.LabState));

    public static List<LabPod> LoadPods(LabLayout layout)
    {
        try
        {
            using var stream = File.OpenRead(layout.PodsFile);
            return JsonSerializer.Deserialize(stream, LabJsonContext.Default.ListLabPod) ?? [];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException)
        {
            return [];
        }
    }

    /// <summary>
    /// Read-modify-write of pods.json under an exclusive flock-style lock file, because
    /// several processes (the CLI, test runners) may record pods at the same time.
    /// </summary>
    /// <exception cref="InvalidOperationException">The lab has no state directory: it is down.</exception>
    public static void UpdatePods(LabLayout layout, Action<List<LabPod>> update)
    {
        // Never create the state directory here: a pods.json without lab.json would make a down
        // lab look half up to `lab up`, and a pod recorded there would be listed by no lab.
        if (!Directory.Exists(layout.StateDirectory))
            throw new InvalidOperationException($"lab '{layout.Prefix}' is not up (no {layout.StateDirectory})");
        using var gate = AcquireLock(layout.PodsFile + ".lock");
        var pods = LoadPods(layout);
        update(pods);
        WriteAtomically(layout.PodsFile, JsonSerializer.SerializeToUtf8Bytes(pods, LabJsonContext.Default.ListLabPod));
    }

    private static FileStream AcquireLock(string path)
    {
        // FileShare.None on Linux is an advisory flock(LOCK_EX) in .NET: wait for the holder.
        for (var attempt = 0; ; attempt++)
        {
            try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (attempt < 200) { Thread.Sleep(25); }
        }
    }

    internal static void WriteAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        var temp = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
    }
}
