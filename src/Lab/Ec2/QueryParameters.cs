using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Fathom.Lab.Ec2;

/// <summary>An HTTP request as the EC2 API sees it, independent of the server hosting it.</summary>
/// <param name="Method">"GET" or "POST".</param>
/// <param name="RawPath">Path as sent, still percent-encoded.</param>
/// <param name="RawQuery">Query string as sent, without '?'.</param>
/// <param name="Headers">Headers by lower-case name; repeated headers joined with ",".</param>
/// <param name="Body">The body bytes.</param>
public sealed record Ec2HttpRequest(string Method, string RawPath, string RawQuery, IReadOnlyDictionary<string, string> Headers,
    ReadOnlyMemory<byte> Body);

/// <summary>The API's answer: an HTTP status and an XML body.</summary>
public sealed record Ec2HttpResponse(int StatusCode, byte[] Body)
{
    /// <summary>EC2 answers text/xml.</summary>
    public const string ContentType = "text/xml;charset=UTF-8";
}

/// <summary>One filter of a Describe* call (Filter.N.Name, Filter.N.Value.M).</summary>
public sealed record Ec2Filter(string Name, IReadOnlyList<string> Values);

/// <summary>
/// The parameters of an EC2 Query request (form body or query string), with EC2's list syntax:
/// a list member <c>X</c> is sent as <c>X.1</c>, <c>X.2</c>, …, structures in a list as
/// <c>X.1.Field</c> (botocore's "ec2" protocol serializer, which the .NET SDK follows).
/// </summary>
public sealed class QueryParameters
{
    private readonly Dictionary<string, string> _values;

    private QueryParameters(Dictionary<string, string> values) => _values = values;

    /// <summary>Parses application/x-www-form-urlencoded text ('+' is a space; %XX is UTF-8).</summary>
    public static QueryParameters Parse(string formOrQuery) => Merge(formOrQuery, "");

    /// <summary>Parses the query string and the form body of one request; body values win.</summary>
    public static QueryParameters Merge(string query, string form)
    {
        // Names compare case-insensitively: as lenient as EC2.
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var text in new[] { query, form })
            foreach (var part in text.Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = part.IndexOf('=');
                var name = Decode(eq < 0 ? part : part[..eq]);
                values[name] = eq < 0 ? "" : Decode(part[(eq + 1)..]);
            }
        return new QueryParameters(values);
    }

    /// <summary>Parses the parameters of a request: its query string, plus the body when it is a form.</summary>
    public static QueryParameters FromRequest(Ec2HttpRequest request)
    {
        var form = "";
        if (request.Body.Length > 0 && (!request.Headers.TryGetValue("content-type", out var type)
            || type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)))
            form = Encoding.UTF8.GetString(request.Body.Span);
        return Merge(request.RawQuery, form);
    }

    private static string Decode(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));

    /// <summary>The value of a parameter, or null.</summary>
    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;

    /// <summary>The value of a required parameter.</summary>
    /// <exception cref="Ec2Exception">MissingParameter.</exception>
    public string Require(string name) =>
        Get(name) is { Length: > 0 } v ? v : throw new Ec2Exception(Ec2ErrorCodes.MissingParameter, $"The request must contain the parameter {name}");

    /// <summary>An integer parameter, or null when absent.</summary>
    public int? GetInt(string name)
    {
        var v = Get(name);
        if (v is null) return null;
        return int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n
            : throw new Ec2Exception(Ec2ErrorCodes.InvalidParameterValue, $"Invalid value '{v}' for {name}.");
    }

    /// <summary>A boolean parameter ("true"/"false"), or null when absent.</summary>
    public bool? GetBool(string name)
    {
        var v = Get(name);
        if (v is null) return null;
        return bool.TryParse(v, out var b) ? b
            : throw new Ec2Exception(Ec2ErrorCodes.InvalidParameterValue, $"Invalid value '{v}' for {name}. Expected true or false.");
    }

    /// <summary>An IPv4 address parameter; InvalidParameterValue when it is not one.</summary>
    public static IPAddress ParseIPv4(string name, string value) =>
        IPAddress.TryParse(value, out var ip) && ip.AddressFamily == AddressFamily.InterNetwork && value.Count(c => c == '.') == 3 ? ip
            : throw new Ec2Exception(Ec2ErrorCodes.InvalidParameterValue, $"Invalid value '{value}' for {name}. Expected an IPv4 address.");

    /// <summary>The indexes N present for a list prefix (<c>prefix.N</c> or <c>prefix.N.field</c>), ascending.</summary>
    public IReadOnlyList<int> Indexes(string prefix)
    {
        var set = new SortedSet<int>();
        var head = prefix + ".";
        foreach (var key in _values.Keys)
        {
            if (!key.StartsWith(head, StringComparison.OrdinalIgnoreCase)) continue;
            var rest = key.AsSpan(head.Length);
            var dot = rest.IndexOf('.');
            var number = dot < 0 ? rest : rest[..dot];
            if (int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0) set.Add(n);
        }
        return [.. set];
    }

    /// <summary>A list of scalars: <c>prefix.1</c>, <c>prefix.2</c>, … in index order.</summary>
    public IReadOnlyList<string> List(string prefix) =>
        [.. Indexes(prefix).Select(i => Get($"{prefix}.{i}")).OfType<string>()];

    /// <summary>Filters: <c>prefix.N.Name</c> with <c>prefix.N.Value.M</c>.</summary>
    public IReadOnlyList<Ec2Filter> Filters(string prefix = "Filter") =>
        [.. Indexes(prefix).Select(i => new Ec2Filter(
            Get($"{prefix}.{i}.Name") ?? throw new Ec2Exception(Ec2ErrorCodes.MissingParameter, $"The request must contain the parameter {prefix}.{i}.Name"),
            List($"{prefix}.{i}.Value")))];

    /// <summary>Tags: <c>prefix.N.Key</c> with an optional <c>prefix.N.Value</c> (null when absent).</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> Tags(string prefix = "Tag") =>
        [.. Indexes(prefix).Select(i => new KeyValuePair<string, string?>(
            Get($"{prefix}.{i}.Key") ?? throw new Ec2Exception(Ec2ErrorCodes.MissingParameter, $"The request must contain the parameter {prefix}.{i}.Key"),
            Get($"{prefix}.{i}.Value")))];
}
