using System.Text.Json;
using System.Text.Json.Nodes;

namespace Fathom.Cni;

/// <summary>
/// The network configuration a runtime streams on stdin (CNI spec 1.1 §"Plugin configuration
/// objects"), parsed and checked field by field. Unknown fields are kept in <see cref="Raw"/>,
/// which is what delegated IPAM plugins get, byte for byte (<see cref="RawBytes"/>).
/// </summary>
public sealed class NetworkConfig
{
    /// <summary>Where attachment records live when the config names no <c>dataDir</c> (beside libcni's /var/lib/cni/results).</summary>
    public const string DefaultDataDir = "/var/lib/cni/fathom";

    /// <summary>The spec version in use (its <c>cniVersion</c>, or the <c>cniVersions</c> negotiation).</summary>
    public required string CniVersion { get; init; }

    /// <summary>The <c>cniVersions</c> list when the config carried one.</summary>
    public IReadOnlyList<string>? CniVersions { get; init; }

    /// <summary>The network's name (spec: <c>^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The plugin type, "fathom".</summary>
    public required string Type { get; init; }

    /// <summary>The datapath mode the config names (<c>mode</c>), or null: then the plugin's table picks its default (<see cref="CniModes"/>).</summary>
    public string? Mode { get; init; }

    /// <summary>The <c>ipam</c> section, or null when IP configuration is left to the datapath or a later plugin.</summary>
    public JsonObject? Ipam { get; init; }

    /// <summary>The IPAM plugin to delegate to (<c>ipam.type</c>), or null without IPAM.</summary>
    public string? IpamType { get; init; }

    /// <summary>The <c>dns</c> section of the config.</summary>
    public CniDns? Dns { get; init; }

    /// <summary>The previous plugin's result in a chain (ADD), or the ADD result (DEL, CHECK).</summary>
    public CniResult? PrevResult { get; init; }

    /// <summary>Capabilities the runtime filled in (<c>runtimeConfig</c>: portMappings, mac, ips, ...).</summary>
    public JsonObject? RuntimeConfig { get; init; }

    /// <summary>The config's <c>args</c> object (CONVENTIONS.md), if any.</summary>
    public JsonObject? Args { get; init; }

    /// <summary>Where to append one JSON line per invocation, or null for no log.</summary>
    public string? LogFile { get; init; }

    /// <summary>
    /// The directory of fathom's attachment records (<see cref="AttachmentStore"/>): one folder per
    /// network, one file per attachment. An absolute path.
    /// </summary>
    public string DataDir { get; init; } = DefaultDataDir;

    /// <summary>
    /// GC: the attachments the runtime still holds (<c>cni.dev/valid-attachments</c>, and the
    /// <c>cni.dev/attachments</c> spelling of the same list).
    /// </summary>
    public IReadOnlySet<(string ContainerId, string IfName)> ValidAttachments { get; init; } =
        new HashSet<(string, string)>();

    /// <summary>The whole config as parsed.</summary>
    public required JsonObject Raw { get; init; }

    /// <summary>The config exactly as received on stdin (handed to delegated plugins unchanged).</summary>
    public ReadOnlyMemory<byte> RawBytes { get; init; }

    /// <summary>
    /// The fields of <see cref="Raw"/> whose text was not valid Unicode, tolerated because fathom
    /// does not read them (a teardown, see <see cref="Parse"/>); they read as U+FFFD here.
    /// </summary>
    public IReadOnlyList<string> InvalidTextFields { get; init; } = [];

    /// <summary>
    /// Parses and validates a config: not JSON → 6; a missing or malformed field → 7 naming
    /// it; a version Fathom does not speak → 1. The mode is checked later against the mode table.
    /// Text that is not valid Unicode anywhere is 6 naming where — except, with
    /// <paramref name="teardown"/> (DEL, and GC releasing a recorded attachment), in a field fathom
    /// does not read itself: the IPAM plugin gets the bytes as they came and reads them its own
    /// way (Go's encoding/json takes U+FFFD), and a runtime's teardown must not fail on every retry
    /// over a stray field it cannot change. The fields DEL needs (name, versions, type, mode,
    /// ipam.type, dataDir, logFile, prevResult, a mode's own keys) are checked all the same.
    /// </summary>
    public static NetworkConfig Parse(ReadOnlyMemory<byte> stdin, bool teardown = false)
    {
        var (raw, invalidText) = ParseObject(stdin, teardown);

        // The spec's order (reference skel): decode, then the name, then the version; the first
        // field found wrong is the one the error names, so the steps keep this order.
        var name = RequiredName(raw);
        var versions = OptionalStringArray(raw, "cniVersions");
        var version = Fathom.Cni.CniVersion.Select(OptionalString(raw, "cniVersion"), versions);
        var type = RequiredType(raw);
        var mode = OptionalMode(raw);
        var (ipam, ipamType) = IpamSection(raw);
        var dataDir = AbsolutePath(raw, "dataDir");
        // The log, like the records: a relative path would land in whatever directory the runtime runs plugins from.
        var logFile = AbsolutePath(raw, "logFile");
        var prevResult = PrevResultOf(raw);

        return new NetworkConfig
        {
            CniVersion = version,
            CniVersions = versions,
            Name = name,
            Type = type,
            Mode = mode,
            Ipam = ipam,
            IpamType = ipamType,
            Dns = raw["dns"] is JsonNode dns ? CniResultJson.ParseDns(dns, "dns", CniErrorCode.InvalidNetworkConfig) : null,
            PrevResult = prevResult,
            RuntimeConfig = OptionalObject(raw, "runtimeConfig"),
            Args = OptionalObject(raw, "args"),
            LogFile = logFile,
            DataDir = dataDir ?? DefaultDataDir,
            ValidAttachments = ParseAttachments(raw),
            Raw = raw,
            RawBytes = stdin,
            InvalidTextFields = invalidText,
        };
    }

    private static string RequiredName(JsonObject raw)
    {
        var name = OptionalString(raw, "name");
        if (string.IsNullOrEmpty(name))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "missing network name", "the config needs a \"name\"");
        if (!CniSyntax.IsValidName(name))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "invalid characters found in network name", name);
        return name;
    }

    private static string RequiredType(JsonObject raw)
    {
        var type = OptionalString(raw, "type");
        if (string.IsNullOrEmpty(type))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "missing plugin type", "the config needs a \"type\"");
        return type;
    }

    // Absent is the plugin's default mode (CniModes); present, it must name one (checked later against the table).
    private static string? OptionalMode(JsonObject raw)
    {
        var mode = OptionalString(raw, "mode");
        if (mode is { Length: 0 })
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "field \"mode\" is empty");
        return mode;
    }

    // The ipam section and the plugin it names: a plugin's name, never a path.
    private static (JsonObject? Ipam, string? Type) IpamSection(JsonObject raw)
    {
        var ipam = OptionalObject(raw, "ipam");
        if (ipam is null) return (null, null);
        var ipamType = OptionalString(ipam, "type", "ipam.type");
        // An empty ipam object ({}) means no IPAM, as in the reference plugins.
        if (ipamType is { Length: 0 } || (ipamType is null && ipam.Count > 0))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "field \"ipam.type\" is missing",
                "name the IPAM plugin to run, e.g. \"host-local\" or \"static\"");
        if (ipamType is not null && (ipamType.Contains('/') || ipamType is "." or ".."))
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"field \"ipam.type\" is \"{ipamType}\": a plugin name, not a path");
        return (ipam, ipamType);
    }

    private static CniResult? PrevResultOf(JsonObject raw)
    {
        if (raw["prevResult"] is not JsonNode prev) return null;
        if (prev is not JsonObject prevObject)
            throw new CniException(CniErrorCode.InvalidNetworkConfig, "field \"prevResult\" must be an object");
        return CniResultJson.Parse(prevObject, "prevResult", CniErrorCode.InvalidNetworkConfig);
    }

    /// <summary>
    /// Reads just the config's <c>cniVersion</c> without validating anything, so an error about
    /// another field can still be reported in the runtime's version. Null when unreadable.
    /// </summary>
    public static string? PeekVersion(ReadOnlySpan<byte> stdin)
    {
        try
        {
            var reader = new Utf8JsonReader(stdin);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isVersion = reader.ValueTextEquals("cniVersion"u8);
                if (!reader.Read()) return null;
                if (isVersion) return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                reader.Skip();
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // Not JSON, or a cniVersion that is not valid Unicode text: the answer is in the latest version.
        }
        return null;
    }

    private static (JsonObject Raw, IReadOnlyList<string> InvalidText) ParseObject(ReadOnlyMemory<byte> stdin, bool teardown)
    {
        JsonNode? node;
        CniJson.TextReport text;
        try
        {
            text = CniJson.Inspect(stdin.Span);
            var invalid = text.InvalidText;
            if (invalid.Count == 0)
            {
                node = JsonNode.Parse(stdin.Span, documentOptions: CniJson.Document);
            }
            else
            {
                if (!teardown || invalid.FirstOrDefault(IsReadByFathom) is not null)
                {
                    var first = teardown ? invalid.First(IsReadByFathom) : invalid[0];
                    throw new CniException(CniErrorCode.DecodeFailure, "error parsing network config: " + CniJson.NotUnicode(first, invalid.Count),
                        "JSON text is UTF-8 (RFC 8259 §8.1); fathom does not guess what a field that is not text means");
                }
                node = JsonNode.Parse(CniJson.Repair(stdin.Span), documentOptions: CniJson.Document);
            }
        }
        catch (JsonException e)
        {
            throw new CniException(CniErrorCode.DecodeFailure, "error parsing network config: not valid JSON", CniJson.Where(e));
        }
        if (text.DuplicateKey is { } duplicate)
            throw new CniException(CniErrorCode.DecodeFailure, "error parsing network config: a key given twice",
                $"{duplicate}; fathom does not guess which one is meant");
        return node is JsonObject o
            ? (o, text.InvalidText)
            : throw new CniException(CniErrorCode.DecodeFailure,
                "error parsing network config: expected a JSON object", $"got {(node is null ? "null" : node.GetValueKind().ToString())}");
    }

    // The fields fathom interprets itself (a mode's keys are checked where the mode reads them,
    // OptionalString). A bad key is never one of them: the ones fathom reads are ASCII.
    private static bool IsReadByFathom(string where)
    {
        const string prefix = "field \"";
        if (!where.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var field = where[prefix.Length..^1];
        if (field is "name" or "cniVersion" or "type" or "mode" or "dataDir" or "logFile" or "ipam.type") return true;
        foreach (var tree in (string[])["cniVersions", "prevResult", "dns", "cni.dev/valid-attachments", "cni.dev/attachments"])
            if (field == tree || field.StartsWith(tree + ".", StringComparison.Ordinal) || field.StartsWith(tree + "[", StringComparison.Ordinal))
                return true;
        return false;
    }

    // dataDir and logFile: absolute, and a path the kernel can take (no NUL).
    private static string? AbsolutePath(JsonObject raw, string key)
    {
        var path = OptionalString(raw, key);
        if (string.IsNullOrEmpty(path)) return null; // "" is no path: the default (no log; the default dataDir)
        if (!Path.IsPathFullyQualified(path) || path.Contains('\0'))
            throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"{key}\" is \"{path.Replace("\0", "\\0", StringComparison.Ordinal)}\": it must be an absolute path",
                "a plugin runs in whatever directory the runtime is in");
        return path;
    }

    // The GC list (CNI spec 1.1 §GC): [{"containerID": ..., "ifname": ...}]. The spec names it
    // cni.dev/valid-attachments in one place and cni.dev/attachments in another; libcni sends both
    // with the same value (containernetworking/cni#1101), so either is read, and both united.
    private static HashSet<(string, string)> ParseAttachments(JsonObject raw)
    {
        var set = new HashSet<(string, string)>();
        foreach (var key in (string[])["cni.dev/valid-attachments", "cni.dev/attachments"])
        {
            if (raw[key] is not JsonNode node) continue;
            if (node is not JsonArray array)
                throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"{key}\" must be an array");
            for (var i = 0; i < array.Count; i++)
            {
                var field = $"{key}[{i}]";
                if (array[i] is not JsonObject a)
                    throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"{field}\" must be an object");
                var id = OptionalString(a, "containerID", field + ".containerID");
                var ifName = OptionalString(a, "ifname", field + ".ifname");
                if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(ifName))
                    throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"{field}\" needs \"containerID\" and \"ifname\"");
                set.Add((id, ifName));
            }
        }
        return set;
    }

    /// <summary>
    /// A top-level string field of a mode's section (<c>"device"</c>), or null when absent; any
    /// other JSON type is error 7 naming the field. Modes read their own keys through this, so
    /// every mode reports a malformed field the same way.
    /// </summary>
    public string? OptionalString(string key) =>
        InvalidTextFields.Contains($"field \"{key}\"")
            ? throw new CniException(CniErrorCode.DecodeFailure, "error parsing network config: " + CniJson.NotUnicode($"field \"{key}\"", 1))
            : OptionalString(Raw, key);

    /// <summary>A top-level object field of a mode's section, or null when absent; any other type is error 7.</summary>
    public JsonObject? OptionalObject(string key) => OptionalObject(Raw, key);

    /// <summary>A top-level array-of-strings field of a mode's section, or null when absent; anything else is error 7.</summary>
    public IReadOnlyList<string>? OptionalStringArray(string key) => OptionalStringArray(Raw, key);

    // A JsonValue's ToString() is its string itself (unquoted, unescaped) when it holds a string, as
    // GetValue<string>() is; but GetValue<T> is a generic virtual method, which Native AOT resolves
    // through a slow lookup on first use: 1.5 % of a shared ADD's plugin CPU (perf). Every string
    // read from a config here, and in the CNI results and the modes' sections, goes through ToString().
    internal static string? OptionalString(JsonObject o, string key, string? field = null)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.ToString();
        throw new CniException(CniErrorCode.InvalidNetworkConfig, $"field \"{field ?? key}\" must be a string",
            $"got {node.GetValueKind()}");
    }

    internal static JsonObject? OptionalObject(JsonObject o, string key, string? field = null)
    {
        var node = o[key];
        if (node is null) return null;
        return node as JsonObject ?? throw new CniException(CniErrorCode.InvalidNetworkConfig,
            $"field \"{field ?? key}\" must be an object", $"got {node.GetValueKind()}");
    }

    internal static IReadOnlyList<string>? OptionalStringArray(JsonObject o, string key, string? field = null,
        CniErrorCode code = CniErrorCode.InvalidNetworkConfig)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonArray array)
        {
            var list = new List<string>(array.Count);
            foreach (var item in array)
            {
                if (item is JsonValue v && v.GetValueKind() == JsonValueKind.String) list.Add(v.ToString());
                else throw new CniException(code, $"field \"{field ?? key}\" must be an array of strings");
            }
            return list;
        }
        throw new CniException(code, $"field \"{field ?? key}\" must be an array of strings", $"got {node.GetValueKind()}");
    }
}
