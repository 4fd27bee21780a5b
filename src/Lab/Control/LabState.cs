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
    /// <summary>How long a just-attached ENI stays invisible in IMDS (AWS: up to seconds).</summary>
    public int ImdsDelayMs { get; init; }
    /// <summary>
    /// Every fault the EC2 API injects, in <see cref="Ec2.FaultPlan.Parse"/>'s syntax
    /// (<c>throttle:AttachNetworkInterface=0.5,error:CreateNetworkInterface=0.1,attach-latency=300ms</c>).
    /// The CLI's <c>--attach-latency</c>, <c>--throttle-rate</c> and <c>--error-rate</c> are folded
    /// in here; lab.json files that still carry them as fields of their own read fine, the fields ignored.
    /// </summary>
    public string? Faults { get; init; }
    /// <summary>
    /// Whether the server runs a <c>fathom-agent</c> in every node and supervises it (issue 9 §7);
    /// <c>lab up --no-agents</c> makes a bare cloud, for the seed article's manual underlay.
    /// </summary>
    // set, not init: the JSON source generator assigns init-only members all at once, so a lab.json
    // from before this option would read false instead of keeping the default.
    public bool Agents { get; set; } = true;

    /// <summary>
    /// The container runtime every node runs (<c>lab up --runtime containerd</c>, issue 11 §1), or
    /// null for none: then pods are made by <c>lab pod add</c>, which runs the plugin itself.
    /// </summary>
    public string? Runtime { get; set; }

    /// <summary>
    /// Where the agents' host-gw and overlay leases live (issue 10): <c>embedded</c>, a directory of
    /// the lab's state shared by every agent, or <c>etcd</c>, a 3-member cluster run in the VPC netns.
    /// </summary>
    public string Datastore { get; set; } = "embedded";

    /// <summary>
    /// The host-gw and overlay pods' path in every node's agent (<c>subnets.hostGw.redirect</c> and
    /// <c>subnets.overlay.redirect</c>, docs/modes.md "The tc BPF pod path"): <c>kernel</c> (the nodes
    /// forward; the default) or <c>bpf</c> (the tc programs carry pod-to-pod packets past the nodes' stacks).
    /// </summary>
    public string Redirect { get; set; } = "kernel";

    /// <summary>Throws with a message fit for the operator when a value is out of range.</summary>
    public void Validate()
    {
        if (Nodes is < 1 or > 64) throw new ArgumentException("--nodes must be 1..64");
        if (!Ec2.InstanceTypeLimits.Known.Any(t => t.Name == InstanceType))
            throw new ArgumentException($"--instance-type: unknown '{InstanceType}' (known: {string.Join(", ", Ec2.InstanceTypeLimits.Known.Select(t => t.Name))})");
        if (Subnets is < 1 or > LabLayout.MaxSubnets) throw new ArgumentException($"--subnets must be 1..{LabLayout.MaxSubnets}");
        if (ImdsDelayMs < 0) throw new ArgumentException("--imds-delay must be >= 0");
        if (Datastore is not ("embedded" or "etcd")) throw new ArgumentException($"--datastore: '{Datastore}' is not embedded or etcd");
        if (Redirect is not ("kernel" or "bpf")) throw new ArgumentException($"--redirect: '{Redirect}' is not kernel or bpf");
        if (Faults is not null)
        {
            try { Ec2.FaultPlan.Parse(Faults); }
            catch (FormatException e) { throw new ArgumentException($"--faults: {e.Message}", e); }
        }
        if (Runtime is not null && Runtime != LabContainerd.Runtime)
            throw new ArgumentException($"--runtime: unknown '{Runtime}' (known: none, {LabContainerd.Runtime})");
        if (Runtime is not null && !Agents)
            throw new ArgumentException($"--runtime {Runtime} runs the fathom plugin, which needs the nodes' agents: drop --no-agents");
    }
}

/// <summary>Lab lifecycle as recorded in lab.json.</summary>
public enum LabPhase
{
    /// <summary>Written by <c>lab up</c>: the server is building the lab.</summary>
    Starting,
    /// <summary>The server serves; the topology and endpoints are recorded.</summary>
    Ready,
    /// <summary>The server failed to build the lab (<see cref="LabState.Error"/> says why).</summary>
    Failed,
}

/// <summary>
/// lab.json: everything <c>lab status</c>, <c>lab env</c> and <c>lab down</c> need. Written by
/// <c>lab up</c> (options) and by the lab server (its own pid, topology, endpoints, child pids)
/// — never both at once: <c>up</c> only waits once the server is started.
/// </summary>
public sealed record LabState
{
    /// <summary>The lab's prefix (<see cref="LabLayout.Prefix"/>).</summary>
    public required string Prefix { get; init; }
    /// <summary>The flags of the <c>lab up</c> that made it.</summary>
    public required LabOptions Options { get; init; }
    /// <summary>Where its lifecycle stands.</summary>
    public LabPhase Phase { get; init; }
    /// <summary>Why the server failed, when <see cref="Phase"/> is Failed.</summary>
    public string? Error { get; init; }
    /// <summary>The server's pid (0 until it has started); <c>down</c> checks its command line before killing it.</summary>
    public int ServerPid { get; init; }
    /// <summary>One dnsmasq per subnet, children of the server.</summary>
    public IReadOnlyList<int> DnsmasqPids { get; init; } = [];
    /// <summary>Fresh for each lab: requests signed with anything else fail with AuthFailure.</summary>
    public required LabCredentials Credentials { get; init; }
    /// <summary>
    /// The observer's key pair, fresh for each lab too: requests signed with it meet none of the lab's
    /// faults (<c>--faults</c>, throttling and error rates), so tests and audits see what the cloud holds
    /// while the agents meet the weather. Null in the state of a lab started before it existed.
    /// </summary>
    public LabCredentials? Observer { get; init; }
    /// <summary>Port of the EC2 endpoint on 127.0.0.1 in the root netns.</summary>
    public int LoopbackPort { get; init; }
    /// <summary>The EC2 endpoint as instances see it, e.g. http://10.0.0.1 (inside the VPC).</summary>
    public string? VpcEndpoint { get; init; }
    /// <summary>The VPC's netns (<see cref="LabLayout.VpcNetns"/>).</summary>
    public string VpcNetns { get; init; } = "";
    /// <summary>The emulated VPC's id (vpc-…).</summary>
    public string VpcId { get; init; } = "";
    /// <summary>The subnets, in order: subnet k is 10.0.16k.0/20 on bridge br-s(k+1).</summary>
    public IReadOnlyList<LabSubnet> Subnets { get; init; } = [];
    /// <summary>The instances, node1 first.</summary>
    public IReadOnlyList<LabNode> Nodes { get; init; } = [];
    /// <summary>The node agents the server runs and supervises, one per node; a restarted agent's new pid replaces the old.</summary>
    public IReadOnlyList<LabAgent> Agents { get; set; } = [];
    /// <summary>The etcd members of a lab up with <c>--datastore etcd</c> (empty otherwise).</summary>
    public IReadOnlyList<Datastore.LabEtcdMember> Etcd { get; set; } = [];

    /// <summary>The EC2 endpoint for tools in the root netns (what <c>lab env</c> exports).</summary>
    public string LoopbackEndpoint => $"http://127.0.0.1:{LoopbackPort}";

    /// <summary>The node named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">The lab has no such node; the message lists those it has.</exception>
    public LabNode RequireNode(string name) =>
        Nodes.FirstOrDefault(n => n.Name == name)
            ?? throw new ArgumentException($"no node '{name}' in lab '{Prefix}' (nodes: {string.Join(", ", Nodes.Select(n => n.Name))})");
}

/// <summary>The lab's AWS credentials: SigV4 requests must be signed with them.</summary>
public sealed record LabCredentials(string AccessKeyId, string SecretAccessKey, string Region);

/// <summary>A subnet of the lab's VPC.</summary>
/// <param name="SubnetId">EC2's id (subnet-…).</param>
/// <param name="Cidr">E.g. 10.0.16.0/20.</param>
/// <param name="Gateway">The VPC router's address in it (.1), on the bridge.</param>
/// <param name="Bridge">Its bridge in the VPC netns (br-s1…).</param>
/// <param name="AvailabilityZone">Its zone (all subnets share one).</param>
public sealed record LabSubnet(string SubnetId, string Cidr, string Gateway, string Bridge, string AvailabilityZone);

/// <summary>An instance of the lab (a node).</summary>
/// <param name="Name">node1, node2, … (also its Name tag).</param>
/// <param name="Netns">Its netns (<see cref="LabLayout.NodeNetns(string)"/>).</param>
/// <param name="InstanceId">EC2's id (i-…).</param>
/// <param name="InstanceType">E.g. t3.medium.</param>
/// <param name="PrimaryIp">eth0's address.</param>
/// <param name="Mac">eth0's MAC (the primary ENI's).</param>
/// <param name="SubnetId">The primary ENI's subnet.</param>
public sealed record LabNode(string Name, string Netns, string InstanceId, string InstanceType, string PrimaryIp, string Mac, string SubnetId);

/// <summary>A node's <c>fathom-agent</c>, run by the lab server in the node's netns.</summary>
/// <param name="Node">node1, node2, …</param>
/// <param name="Pid">Its pid now (the server restarts an agent that exits).</param>
/// <param name="Socket">The socket the plugin reaches it on (<see cref="LabLayout.AgentSocket"/>).</param>
public sealed record LabAgent(string Node, int Pid, string Socket);

/// <summary>A pod as recorded by whoever made it (<c>lab pod add</c>, the CNI plugin's tests, run.sh).</summary>
/// <param name="Name">The pod's name.</param>
/// <param name="Netns">Its netns, by name or path.</param>
/// <param name="Node">The node it runs on.</param>
/// <param name="Mode">Its datapath mode.</param>
/// <param name="Ips">Its addresses, without prefix length.</param>
/// <param name="Mac">eth0's MAC, when known.</param>
/// <param name="ContainerId">CNI_CONTAINERID, for a pod <c>lab pod add --mode</c> made through the plugin (its DEL needs it).</param>
/// <param name="NetworkConfig">The conflist its ADD used, for its DEL.</param>
public sealed record LabPod(string Name, string Netns, string Node, string Mode, IReadOnlyList<string> Ips, string? Mac = null,
    string? ContainerId = null, string? NetworkConfig = null)
{
    /// <summary>Its first address (what <c>lab pod add --json</c> prints as <c>ip</c>).</summary>
    public string? Ip => Ips.Count > 0 ? Ips[0] : null;
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(LabState))]
[JsonSerializable(typeof(LabNode))]
[JsonSerializable(typeof(List<LabPod>))]
internal sealed partial class LabJsonContext : JsonSerializerContext;

/// <summary>Reads and writes the lab's state files atomically (write to a temp file, then rename).</summary>
public static class LabStateStore
{
    /// <summary>lab.json, or null when there is none (the lab is down) or it cannot be read.</summary>
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

    /// <summary>Replaces lab.json atomically.</summary>
    public static void Save(LabLayout layout, LabState state) =>
        AtomicFile.Write(layout.StateFile, JsonSerializer.SerializeToUtf8Bytes(state, LabJsonContext.Default.LabState));

    /// <summary>The pods recorded in pods.json (none when it is missing or unreadable).</summary>
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

    /// <summary>Records <paramref name="pod"/> in pods.json, replacing a pod of the same name.</summary>
    /// <exception cref="InvalidOperationException">The lab is down.</exception>
    public static void SavePod(LabLayout layout, LabPod pod) =>
        UpdatePods(layout, pods => { pods.RemoveAll(p => p.Name == pod.Name); pods.Add(pod); });

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
        using var gate = LabLock.Hold(layout.PodsFile + ".lock", TimeSpan.FromSeconds(5), $"pods.json of lab '{layout.Prefix}' is being updated by another process");
        var pods = LoadPods(layout);
        update(pods);
        AtomicFile.Write(layout.PodsFile, JsonSerializer.SerializeToUtf8Bytes(pods, LabJsonContext.Default.ListLabPod));
    }
}
