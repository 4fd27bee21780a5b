using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Netlink;

namespace Fathom.Cni;

/// <summary>
/// Reads a CNI result of any version into <see cref="CniResult"/> and writes one in the shape
/// of a requested version (CNI spec 1.1 §"Success"; reference pkg/types/{020,040,100}):
/// 0.1.0/0.2.0 have <c>ip4</c>/<c>ip6</c> objects (read only); 0.3.x and 0.4.0 carry
/// <c>ips[].version</c>; 1.1.0 adds interface <c>mtu</c>/<c>socketPath</c>/<c>pciID</c> and
/// route <c>mtu</c>/<c>advmss</c>/<c>priority</c>/<c>table</c>/<c>scope</c>, which older
/// shapes leave out.
/// </summary>
public static class CniResultJson
{
    /// <summary>Parses a result from UTF-8 JSON; malformed input throws <paramref name="code"/> naming <paramref name="what"/>.</summary>
    public static CniResult Parse(ReadOnlySpan<byte> json, string what = "result", CniErrorCode code = CniErrorCode.DecodeFailure)
    {
        JsonNode? node;
        try
        {
            node = CniJson.Parse(json);
        }
        catch (JsonException e)
        {
            throw new CniException(code, $"{what} is not valid JSON", CniJson.Where(e));
        }
        return node is JsonObject o ? Parse(o, what, code) : throw new CniException(code, $"{what} is not a JSON object");
    }

    /// <summary>Parses a result object of any version (0.1.0–1.1.0).</summary>
    public static CniResult Parse(JsonObject o, string what = "result", CniErrorCode code = CniErrorCode.DecodeFailure)
    {
        var version = String(o, "cniVersion", what, code) ?? CniVersion.Latest;
        var result = new CniResult { CniVersion = version };
        if (o["ip4"] is not null || o["ip6"] is not null || version is "0.1.0" or "0.2.0")
        {
            ParseLegacy(o, result, what, code);
        }
        else
        {
            foreach (var (item, field) in Items(o, "interfaces", what, code))
            {
                var name = String(item, "name", field, code) ?? throw Error(code, field, "name", "is missing");
                result.Interfaces.Add(new CniInterface(
                    name,
                    Mac: String(item, "mac", field, code),
                    Mtu: Int(item, "mtu", field, code),
                    Sandbox: String(item, "sandbox", field, code),
                    SocketPath: String(item, "socketPath", field, code),
                    PciId: String(item, "pciID", field, code)));
            }
            foreach (var (item, field) in Items(o, "ips", what, code))
            {
                var index = Int(item, "interface", field, code);
                if (index < 0) throw Error(code, field, "interface", "is negative");
                result.Ips.Add(new CniIpConfig(
                    Prefix(item, "address", field, code) ?? throw Error(code, field, "address", "is missing"),
                    Address(item, "gateway", field, code),
                    index));
            }
            foreach (var (item, field) in Items(o, "routes", what, code))
                result.Routes.Add(ParseRoute(item, field, code));
        }
        if (o["dns"] is JsonNode dns)
        {
            var parsed = ParseDns(dns, what + ".dns", code);
            result.Dns = parsed.IsEmpty ? null : parsed;
        }
        return result;
    }

    /// <summary>Parses a <c>dns</c> object (config or result).</summary>
    public static CniDns ParseDns(JsonNode node, string what, CniErrorCode code)
    {
        if (node is not JsonObject o) throw new CniException(code, $"field \"{what}\" must be an object");
        return new CniDns
        {
            Nameservers = NetworkConfig.OptionalStringArray(o, "nameservers", what + ".nameservers", code) ?? [],
            Domain = String(o, "domain", what, code),
            Search = NetworkConfig.OptionalStringArray(o, "search", what + ".search", code) ?? [],
            Options = NetworkConfig.OptionalStringArray(o, "options", what + ".options", code) ?? [],
        };
    }

    /// <summary>The result as UTF-8 JSON in the shape of <paramref name="version"/>.</summary>
    public static byte[] Serialize(CniResult result, string version, bool indented = false)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, CniJson.Writer(indented)))
            Write(writer, result, version);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The result as a JSON string in the shape of <paramref name="version"/>.</summary>
    public static string ToJsonString(CniResult result, string version, bool indented = false) =>
        System.Text.Encoding.UTF8.GetString(Serialize(result, version, indented));

    /// <summary>Writes the result in the shape of <paramref name="version"/> (0.3.0 or later).</summary>
    public static void Write(Utf8JsonWriter w, CniResult result, string version)
    {
        if (!CniVersion.AtLeast(version, "0.3.0"))
            throw new CniException(CniErrorCode.IncompatibleVersion, $"cannot write a result in version {version}",
                $"fathom writes [{string.Join(", ", CniVersion.Supported)}]");
        var v11 = CniVersion.AtLeast(version, "1.1.0");
        var legacyIps = !CniVersion.AtLeast(version, "1.0.0"); // 0.3.x/0.4.0: ips[].version

        w.WriteStartObject();
        w.WriteString("cniVersion", version);
        if (result.Interfaces.Count > 0) WriteInterfaces(w, result.Interfaces, v11);
        if (result.Ips.Count > 0) WriteIps(w, result.Ips, legacyIps);
        if (result.Routes.Count > 0) WriteRoutes(w, result.Routes, v11);
        if (result.Dns is { IsEmpty: false } dns) WriteDns(w, dns);
        w.WriteEndObject();
    }

    private static void WriteInterfaces(Utf8JsonWriter w, List<CniInterface> interfaces, bool v11)
    {
        w.WriteStartArray("interfaces");
        foreach (var i in interfaces)
        {
            w.WriteStartObject();
            w.WriteString("name", i.Name);
            if (i.Mac is not null) w.WriteString("mac", i.Mac);
            if (v11 && i.Mtu is int mtu) w.WriteNumber("mtu", mtu);
            if (i.Sandbox is not null) w.WriteString("sandbox", i.Sandbox);
            if (v11 && i.SocketPath is not null) w.WriteString("socketPath", i.SocketPath);
            if (v11 && i.PciId is not null) w.WriteString("pciID", i.PciId);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    // 0.3.x and 0.4.0 say each address's family as ips[].version; 1.0.0 dropped it.
    private static void WriteIps(Utf8JsonWriter w, List<CniIpConfig> ips, bool legacyIps)
    {
        w.WriteStartArray("ips");
        foreach (var ip in ips)
        {
            w.WriteStartObject();
            if (legacyIps)
                w.WriteString("version", ip.Address.Address.AddressFamily == AddressFamily.InterNetworkV6 ? "6" : "4");
            if (ip.Interface is int index) w.WriteNumber("interface", index);
            w.WriteString("address", ip.Address.ToString());
            if (ip.Gateway is not null) w.WriteString("gateway", ip.Gateway.ToString());
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    // mtu, advmss, priority, table and scope are new in 1.1.0: older versions never see them.
    private static void WriteRoutes(Utf8JsonWriter w, List<CniRoute> routes, bool v11)
    {
        w.WriteStartArray("routes");
        foreach (var r in routes)
        {
            w.WriteStartObject();
            w.WriteString("dst", r.Destination.ToString());
            if (r.Gateway is not null) w.WriteString("gw", r.Gateway.ToString());
            if (v11)
            {
                if (r.Mtu is int mtu) w.WriteNumber("mtu", mtu);
                if (r.AdvMss is int advmss) w.WriteNumber("advmss", advmss);
                if (r.Priority is int priority) w.WriteNumber("priority", priority);
                if (r.Table is int table) w.WriteNumber("table", table);
                if (r.Scope is int scope) w.WriteNumber("scope", scope);
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteDns(Utf8JsonWriter w, CniDns dns)
    {
        w.WriteStartObject("dns");
        if (dns.Nameservers.Count > 0) WriteStrings(w, "nameservers", dns.Nameservers);
        if (dns.Domain is not null) w.WriteString("domain", dns.Domain);
        if (dns.Search.Count > 0) WriteStrings(w, "search", dns.Search);
        if (dns.Options.Count > 0) WriteStrings(w, "options", dns.Options);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    // 0.1.0/0.2.0 (reference pkg/types/020): {"ip4": {"ip", "gateway", "routes"}, "ip6": {...}, "dns"}.
    private static void ParseLegacy(JsonObject o, CniResult result, string what, CniErrorCode code)
    {
        foreach (var key in (ReadOnlySpan<string>)["ip4", "ip6"])
        {
            if (o[key] is not JsonNode node) continue;
            var field = $"{what}.{key}";
            if (node is not JsonObject ip) throw new CniException(code, $"field \"{field}\" must be an object");
            result.Ips.Add(new CniIpConfig(
                Prefix(ip, "ip", field, code) ?? throw Error(code, field, "ip", "is missing"),
                Address(ip, "gateway", field, code)));
            foreach (var (item, routeField) in Items(ip, "routes", field, code))
                result.Routes.Add(ParseRoute(item, routeField, code));
        }
    }

    private static CniRoute ParseRoute(JsonObject item, string field, CniErrorCode code) => new(
        Prefix(item, "dst", field, code) ?? throw Error(code, field, "dst", "is missing"),
        Address(item, "gw", field, code),
        Int(item, "mtu", field, code),
        Int(item, "advmss", field, code),
        Int(item, "priority", field, code),
        Int(item, "table", field, code),
        Int(item, "scope", field, code));

    private static IEnumerable<(JsonObject Item, string Field)> Items(JsonObject o, string key, string what, CniErrorCode code)
    {
        var node = o[key];
        if (node is null) yield break;
        if (node is not JsonArray array) throw new CniException(code, $"field \"{what}.{key}\" must be an array");
        for (var i = 0; i < array.Count; i++)
        {
            var field = $"{what}.{key}[{i}]";
            yield return (array[i] as JsonObject ?? throw new CniException(code, $"field \"{field}\" must be an object"), field);
        }
    }

    private static string? String(JsonObject o, string key, string what, CniErrorCode code)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.ToString();
        throw Error(code, what, key, "must be a string");
    }

    private static int? Int(JsonObject o, string key, string what, CniErrorCode code)
    {
        var node = o[key];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var n)) return n;
        if (node is JsonValue d && d.GetValueKind() == JsonValueKind.Number && d.TryGetValue<double>(out var x)
            && x == Math.Floor(x) && x is >= int.MinValue and <= int.MaxValue)
            return (int)x;
        throw Error(code, what, key, "must be an integer");
    }

    private static IpPrefix? Prefix(JsonObject o, string key, string what, CniErrorCode code)
    {
        var s = String(o, key, what, code);
        if (s is null) return null;
        // CIDR form only, as the reference's net.ParseCIDR: a bare address is not a result address.
        return s.Contains('/') && IpPrefix.TryParse(s, out var prefix) ? prefix : throw Error(code, what, key, $"\"{s}\" is not an address/prefix-length");
    }

    private static IPAddress? Address(JsonObject o, string key, string what, CniErrorCode code)
    {
        var s = String(o, key, what, code);
        if (s is null || s.Length == 0) return null;
        return IPAddress.TryParse(s, out var ip) && !s.Contains('/') ? ip : throw Error(code, what, key, $"\"{s}\" is not an IP address");
    }

    private static CniException Error(CniErrorCode code, string what, string key, string problem) =>
        new(code, $"field \"{what}.{key}\" {problem}");
}
