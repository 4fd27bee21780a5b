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
/// <remarks>
/// The boundary of the API (issue 8): every name and value is decoded strictly — percent-escapes
/// must make valid UTF-8 — and must hold only characters XML 1.0 can carry, without control
/// characters (TAB, LF and CR excepted). A parameter that fails is not kept: it is remembered as
/// rejected, and <see cref="ThrowIfRejected"/> refuses the request before any action runs, so no
/// stored value can later break an answer. Parsing is linear in the request's size: list indexes
/// are collected once, not by scanning every parameter per list.
/// </remarks>
public sealed class QueryParameters
{
    /// <summary>
    /// Filter values one call may carry, summed over its filters: EC2's figure ("The maximum number
    /// of filter values specified on a single call is 200", FilterLimitExceeded).
    /// </summary>
    public const int MaxFilterValues = 200;

    /// <summary>Longer names are no EC2 parameter: kept, but not indexed as list members (which would cost their length squared).</summary>
    private const int MaxIndexedNameLength = 256;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Dictionary<string, string> _values;
    private readonly Dictionary<string, SortedSet<int>> _lists = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Name, string Raw, string Why)> _rejected;

    private QueryParameters(Dictionary<string, string> values, List<(string, string, string)> rejected)
    {
        _values = values;
        _rejected = rejected;
        foreach (var key in values.Keys)
            if (key.Length <= MaxIndexedNameLength) IndexListMember(key);
    }

    /// <summary>Parses application/x-www-form-urlencoded text ('+' is a space; %XX is UTF-8).</summary>
    public static QueryParameters Parse(string formOrQuery) => Merge(formOrQuery, "");

    /// <summary>Parses the query string and the form body of one request; body values win.</summary>
    public static QueryParameters Merge(string query, string form)
    {
        // Names compare case-insensitively: as lenient as EC2.
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rejected = new List<(string, string, string)>();
        foreach (var text in new[] { query, form })
        {
            byte[] bytes;
            try { bytes = StrictUtf8.GetBytes(text); }
            catch (EncoderFallbackException)
            {
                rejected.Add(("", "", "it is not valid UTF-16 text"));
                continue;
            }
            AddPairs(bytes, values, rejected);
        }
        return new QueryParameters(values, rejected);
    }

    /// <summary>Parses the parameters of a request: its query string, plus the body when it is a form.</summary>
    public static QueryParameters FromRequest(Ec2HttpRequest request)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rejected = new List<(string, string, string)>();
        try { AddPairs(StrictUtf8.GetBytes(request.RawQuery), values, rejected); }
        catch (EncoderFallbackException) { rejected.Add(("", "", "the query string is not valid UTF-16 text")); }
        if (request.Body.Length > 0 && (!request.Headers.TryGetValue("content-type", out var type)
            || type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)))
            AddPairs(request.Body.Span, values, rejected);
        return new QueryParameters(values, rejected);
    }

    /// <summary>Splits form-encoded bytes into name=value pairs, decoding each strictly.</summary>
    private static void AddPairs(ReadOnlySpan<byte> text, Dictionary<string, string> values, List<(string, string, string)> rejected)
    {
        var buffer = new byte[Math.Min(text.Length, 1 << 16)];
        foreach (var range in text.Split((byte)'&'))
        {
            var part = text[range];
            if (part.IsEmpty) continue;
            var eq = part.IndexOf((byte)'=');
            var rawName = eq < 0 ? part : part[..eq];
            var rawValue = eq < 0 ? [] : part[(eq + 1)..];
            var name = Decode(rawName, ref buffer, out var whyName);
            var value = Decode(rawValue, ref buffer, out var whyValue);
            if (name is null)
            {
                rejected.Add((Printable(rawName), Printable(rawValue), "its name " + whyName));
                continue;
            }
            if (value is null)
            {
                values.Remove(name);
                rejected.Add((name, Printable(rawValue), whyValue!));
                continue;
            }
            values[name] = value;
        }
    }

    /// <summary>'+' is a space, %XX a byte (a malformed escape stays as written, as before); then strict UTF-8 and XML's characters.</summary>
    private static string? Decode(ReadOnlySpan<byte> raw, ref byte[] buffer, out string? why)
    {
        if (buffer.Length < raw.Length) buffer = new byte[raw.Length];
        var n = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            var b = raw[i];
            if (b == '+') b = (byte)' ';
            else if (b == '%' && i + 2 < raw.Length && IsHex(raw[i + 1]) && IsHex(raw[i + 2]))
            {
                b = (byte)(HexValue(raw[i + 1]) << 4 | HexValue(raw[i + 2]));
                i += 2;
            }
            buffer[n++] = b;
        }
        string text;
        try { text = StrictUtf8.GetString(buffer, 0, n); }
        catch (DecoderFallbackException)
        {
            why = "it is not valid UTF-8";
            return null;
        }
        why = ForbiddenCharacter(text);
        return why is null ? text : null;
    }

    private static bool IsHex(byte b) => char.IsAsciiHexDigit((char)b);

    private static int HexValue(byte b) => b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10;

    /// <summary>
    /// Why a decoded text cannot be a parameter, or null: control characters (TAB, LF, CR excepted)
    /// and what XML 1.0 cannot carry (U+FFFE, U+FFFF; strict UTF-8 already ruled out lone surrogates).
    /// </summary>
    internal static string? ForbiddenCharacter(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if ((char.IsControl(c) && c is not '\t' and not '\n' and not '\r') || char.IsSurrogate(c) || c is '\uFFFE' or '\uFFFF')
                return $"it contains the character U+{(int)c:X4}, which is not allowed";
        }
        return null;
    }

    /// <summary>Raw wire bytes shown back in an error message: ASCII as is, anything else as %XX, cut at 64 bytes.</summary>
    private static string Printable(ReadOnlySpan<byte> raw)
    {
        var sb = new StringBuilder();
        foreach (var b in raw[..Math.Min(raw.Length, 64)])
            if (b is >= 0x20 and < 0x7F) sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        if (raw.Length > 64) sb.Append('…');
        return sb.ToString();
    }

    /// <summary>Registers <paramref name="key"/> under every list prefix it is a member of: "Filter.2.Value.1" under "Filter" (2) and "Filter.2.Value" (1).</summary>
    private void IndexListMember(string key)
    {
        for (var dot = key.IndexOf('.'); dot >= 0; dot = key.IndexOf('.', dot + 1))
        {
            var rest = key.AsSpan(dot + 1);
            var end = rest.IndexOf('.');
            var number = end < 0 ? rest : rest[..end];
            if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n <= 0) continue;
            var prefix = key[..dot];
            if (!_lists.TryGetValue(prefix, out var set)) _lists[prefix] = set = [];
            set.Add(n);
        }
    }

    /// <summary>Whether <paramref name="name"/> was sent but refused (bad UTF-8, a forbidden character).</summary>
    public bool IsRejected(string name) => _rejected.Exists(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The request's first refused parameter as EC2's InvalidParameterValue; nothing when all were accepted.</summary>
    /// <exception cref="Ec2Exception">InvalidParameterValue.</exception>
    public void ThrowIfRejected()
    {
        if (_rejected.Count == 0) return;
        var (name, raw, why) = _rejected[0];
        throw new Ec2Exception(Ec2ErrorCodes.InvalidParameterValue,
            name.Length == 0 ? $"The request is invalid: {why}." : $"Value ({raw}) for parameter {name} is invalid: {why}.");
    }

    /// <summary>What was sent for a refused parameter, printable (percent-encoded where it was not ASCII).</summary>
    public string? RejectedValue(string name) =>
        _rejected.Find(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase)).Raw;

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
    public IReadOnlyList<int> Indexes(string prefix) => _lists.TryGetValue(prefix, out var set) ? [.. set] : [];

    /// <summary>A list of scalars: <c>prefix.1</c>, <c>prefix.2</c>, … in index order.</summary>
    public IReadOnlyList<string> List(string prefix) =>
        [.. Indexes(prefix).Select(i => Get($"{prefix}.{i}")).OfType<string>()];

    /// <summary>Filters: <c>prefix.N.Name</c> with <c>prefix.N.Value.M</c>.</summary>
    /// <exception cref="Ec2Exception">MissingParameter without a name; FilterLimitExceeded past <see cref="MaxFilterValues"/>.</exception>
    public IReadOnlyList<Ec2Filter> Filters(string prefix = "Filter")
    {
        var filters = new List<Ec2Filter>();
        var values = 0;
        foreach (var i in Indexes(prefix))
        {
            var filter = new Ec2Filter(
                Get($"{prefix}.{i}.Name") ?? throw new Ec2Exception(Ec2ErrorCodes.MissingParameter, $"The request must contain the parameter {prefix}.{i}.Name"),
                List($"{prefix}.{i}.Value"));
            if ((values += Math.Max(1, filter.Values.Count)) > MaxFilterValues)
                throw new Ec2Exception(Ec2ErrorCodes.FilterLimitExceeded, $"The maximum number of filter values specified on a single call is {MaxFilterValues}");
            filters.Add(filter);
        }
        return filters;
    }

    /// <summary>Tags: <c>prefix.N.Key</c> with an optional <c>prefix.N.Value</c> (null when absent).</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> Tags(string prefix = "Tag") =>
        [.. Indexes(prefix).Select(i => new KeyValuePair<string, string?>(
            Get($"{prefix}.{i}.Key") ?? throw new Ec2Exception(Ec2ErrorCodes.MissingParameter, $"The request must contain the parameter {prefix}.{i}.Key"),
            Get($"{prefix}.{i}.Value")))];
}
