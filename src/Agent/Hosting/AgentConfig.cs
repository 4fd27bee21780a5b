using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Fathom.Agent.Protocol;

namespace Fathom.Agent.Hosting;

/// <summary>
/// <c>/etc/fathom/agent.json</c>: where the agent listens, keeps its state and serves metrics. An
/// unknown field is an error (a typo must not silently fall back to a default), comments and
/// trailing commas are allowed.
/// </summary>
public sealed record AgentConfig
{
    /// <summary>Where the config is read from unless <c>--config</c> says otherwise.</summary>
    public const string DefaultPath = "/etc/fathom/agent.json";

    /// <summary>The Unix socket the plugin talks to.</summary>
    public string SocketPath { get; set; } = AgentProtocol.DefaultSocketPath;

    /// <summary>The state directory (allocations, teardown jobs, IP cooldowns).</summary>
    public string StateDir { get; set; } = "/var/lib/fathom/agent";

    /// <summary>
    /// <c>ip:port</c> of the metrics and health endpoint (<c>/metrics</c>, <c>/healthz</c>), loopback
    /// only (DESIGN §4); empty to serve none.
    /// </summary>
    public string MetricsAddress { get; set; } = "127.0.0.1:9780";

    /// <summary>How long a freed secondary IP cools down before reuse.</summary>
    public double IpCooldownSeconds { get; set; } = IpCooldownDefault;

    /// <summary>
    /// Whether state writes are fsync'ed (<see cref="State.StateDirectory.SyncWrites"/>). Default
    /// false: a write renamed into place already survives any death of the agent process (the page
    /// cache outlives it), and fsync only guards against power loss, after which every pod of the
    /// node is gone with its namespace anyway; its two flushes per write would spend DEL's whole
    /// ≤ 5 ms budget (DESIGN §9). True for nodes that want the records to survive a crash of the kernel.
    /// </summary>
    public bool SyncStateWrites { get; set; }

    /// <summary>The cloud the pools come from; null: no pools (an ADD the store does not hold fails with code 11).</summary>
    public CloudConfig? Cloud { get; set; }

    /// <summary>The warm pools; null with a <see cref="Cloud"/> is an error, since the cluster name is needed to tag ENIs.</summary>
    public PoolConfig? Pools { get; set; }

    /// <summary>The host-gw and overlay modes' subnet leases (issue 10); null: the node serves neither.</summary>
    public Subnets.SubnetConfig? Subnets { get; set; }

    /// <summary>The least level logged: debug, info, warning or error.</summary>
    public string LogLevel { get; set; } = "info";

    private const double IpCooldownDefault = 30;

    /// <summary><see cref="MetricsAddress"/> parsed, or null when none is served.</summary>
    [JsonIgnore]
    public IPEndPoint? MetricsEndPoint => string.IsNullOrEmpty(MetricsAddress) ? null : IPEndPoint.Parse(MetricsAddress);

    /// <summary><see cref="LogLevel"/> parsed.</summary>
    [JsonIgnore]
    public LogLevel MinimumLogLevel => LogLevel switch
    {
        "debug" => Agent.LogLevel.Debug,
        "warning" => Agent.LogLevel.Warning,
        "error" => Agent.LogLevel.Error,
        _ => Agent.LogLevel.Info,
    };

    /// <summary>Reads and checks the config at <paramref name="path"/>.</summary>
    /// <exception cref="AgentConfigException">The file is missing, not JSON, or a field is wrong.</exception>
    public static AgentConfig Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgentConfigException($"cannot read the config {path}: {e.Message}");
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses and checks a config; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="AgentConfigException">Not JSON, or a field is wrong.</exception>
    public static AgentConfig Parse(ReadOnlySpan<byte> json, string source)
    {
        AgentConfig? config;
        try
        {
            config = JsonSerializer.Deserialize(json, AgentConfigJson.Default.AgentConfig);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            throw new AgentConfigException($"{source} is not a valid fathom-agent config: {e.Message}");
        }
        if (config is null)
            throw new AgentConfigException($"{source} is not a valid fathom-agent config: null");
        config.Validate(source);
        return config;
    }

    private void Validate(string source)
    {
        if (string.IsNullOrEmpty(SocketPath) || !Path.IsPathFullyQualified(SocketPath))
            throw new AgentConfigException($"{source}: socketPath '{SocketPath}' must be an absolute path");
        if (System.Text.Encoding.UTF8.GetByteCount(SocketPath) > 107)
            throw new AgentConfigException($"{source}: socketPath '{SocketPath}' is longer than a Unix socket path may be (107 bytes)");
        if (string.IsNullOrEmpty(StateDir) || !Path.IsPathFullyQualified(StateDir))
            throw new AgentConfigException($"{source}: stateDir '{StateDir}' must be an absolute path");
        if (!string.IsNullOrEmpty(MetricsAddress))
        {
            if (!IPEndPoint.TryParse(MetricsAddress, out var endpoint) || endpoint.Port == 0)
                throw new AgentConfigException($"{source}: metricsAddress '{MetricsAddress}' is not ip:port");
            if (!IPAddress.IsLoopback(endpoint.Address))
                throw new AgentConfigException($"{source}: metricsAddress '{MetricsAddress}' is not a loopback address: the agent serves metrics and health on 127.0.0.1 only");
        }
        if (!double.IsFinite(IpCooldownSeconds) || IpCooldownSeconds < 0 || IpCooldownSeconds > 3600)
            throw new AgentConfigException($"{source}: ipCooldownSeconds {IpCooldownSeconds} is outside 0..3600");
        if (LogLevel is not ("debug" or "info" or "warning" or "error"))
            throw new AgentConfigException($"{source}: logLevel '{LogLevel}' is not one of debug, info, warning, error");
        if (Cloud is not null && Pools is null)
            throw new AgentConfigException($"{source}: cloud is set but pools is not: pools.cluster (at least) is needed to tag the ENIs the agent creates");
        if (Pools is not null && Cloud is null)
            throw new AgentConfigException($"{source}: pools is set but cloud is not: the pools need a cloud to fill them");
        if (Cloud?.Provider == "host" && Pools?.Sticky is not null)
            throw new AgentConfigException($"{source}: pools.sticky needs a cloud that moves ENIs between instances (aws); the host provider's NICs are fixed to this node");
        Cloud?.Validate(source);
        Pools?.Validate(source);
        try
        {
            Subnets?.Validate(source);
        }
        catch (Subnets.SubnetConfigException e)
        {
            throw new AgentConfigException(e.Message);
        }
    }
}

/// <summary>A config that cannot be used; the message names the file and the field.</summary>
public sealed class AgentConfigException(string message) : Exception(message);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true)]
[JsonSerializable(typeof(AgentConfig))]
[JsonSerializable(typeof(CloudConfig))]
[JsonSerializable(typeof(PoolConfig))]
internal sealed partial class AgentConfigJson : JsonSerializerContext;
