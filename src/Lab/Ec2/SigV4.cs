using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;

namespace Fathom.Lab.Ec2;

/// <summary>
/// AWS Signature Version 4, the server's side: rebuild the canonical request from what arrived,
/// derive the signing key from the lab's secret, and compare signatures. Follows "Create a
/// signed AWS API request" (IAM user guide) step by step; the step functions are public so the
/// documented test vectors can check each of them.
/// </summary>
public static class SigV4
{
    /// <summary>The only algorithm SigV4 defines for Authorization headers.</summary>
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The service name in an EC2 credential scope.</summary>
    public const string Service = "ec2";

    /// <summary>Hex SHA-256 of an empty payload.</summary>
    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// <summary>kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").</summary>
    public static byte[] DeriveSigningKey(string secretAccessKey, string date, string region, string service)
    {
        var key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    /// <summary>
    /// The canonical request: method, canonical URI, canonical query string, canonical headers,
    /// signed headers and the payload hash, one per line.
    /// </summary>
    /// <param name="method">HTTP method, e.g. "POST".</param>
    /// <param name="rawPath">The path as sent (still percent-encoded), e.g. "/".</param>
    /// <param name="rawQuery">The query string as sent, without '?'.</param>
    /// <param name="headers">Request headers by lower-case name (several values joined with ",").</param>
    /// <param name="signedHeaders">The SignedHeaders list, lower case, ';'-separated and sorted.</param>
    /// <param name="payloadHash">Hex SHA-256 of the body.</param>
    public static string CanonicalRequest(string method, string rawPath, string rawQuery,
        IReadOnlyDictionary<string, string> headers, string signedHeaders, string payloadHash)
    {
        var sb = new StringBuilder();
        sb.Append(method).Append('\n');
        sb.Append(CanonicalUri(rawPath)).Append('\n');
        sb.Append(CanonicalQuery(rawQuery)).Append('\n');
        foreach (var name in signedHeaders.Split(';'))
        {
            headers.TryGetValue(name, out var value);
            sb.Append(name).Append(':').Append(CanonicalHeaderValue(value ?? "")).Append('\n');
        }
        sb.Append('\n').Append(signedHeaders).Append('\n').Append(payloadHash);
        return sb.ToString();
    }

    /// <summary>The string to sign: algorithm, request date, credential scope, hash of the canonical request.</summary>
    public static string StringToSign(string amzDate, string scope, string canonicalRequest) =>
        $"{Algorithm}\n{amzDate}\n{scope}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonicalRequest)))}";

    /// <summary>The signature: hex HMAC of the string to sign with the signing key.</summary>
    public static string Signature(byte[] signingKey, string stringToSign) =>
        Hex(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(stringToSign)));

    /// <summary>Hex SHA-256 of a payload.</summary>
    public static string PayloadHash(ReadOnlySpan<byte> body) => Hex(SHA256.HashData(body));

    /// <summary>
    /// SigV4's URI encoding: every byte except the unreserved A–Z a–z 0–9 - _ . ~ as %XX (upper-case
    /// hex), '/' included (a path is encoded segment by segment).
    /// </summary>
    public static string UriEncode(string value)
    {
        var sb = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~')
                sb.Append(c);
            else
                sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return sb.ToString();
    }

    /// <summary>
    /// Canonical URI: every path segment URI-encoded once more (services other than S3 sign the
    /// already-encoded path, i.e. double encoding); an empty path is "/".
    /// </summary>
    internal static string CanonicalUri(string rawPath)
    {
        if (rawPath.Length == 0) return "/";
        return string.Join('/', rawPath.Split('/').Select(UriEncode));
    }

    /// <summary>Canonical query: each name and value decoded then re-encoded, sorted by name, then value.</summary>
    internal static string CanonicalQuery(string rawQuery)
    {
        if (rawQuery.Length == 0) return "";
        var pairs = new List<(string Name, string Value)>();
        foreach (var part in rawQuery.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=');
            var name = eq < 0 ? part : part[..eq];
            var value = eq < 0 ? "" : part[(eq + 1)..];
            pairs.Add((UriEncode(Uri.UnescapeDataString(name)), UriEncode(Uri.UnescapeDataString(value))));
        }
        return string.Join('&', pairs.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => p.Name + "=" + p.Value));
    }

    /// <summary>Header values are trimmed and runs of spaces collapse to one.</summary>
    internal static string CanonicalHeaderValue(string value)
    {
        var sb = new StringBuilder(value.Length);
        var space = false;
        foreach (var c in value.Trim())
        {
            if (c == ' ')
            {
                if (!space) sb.Append(' ');
                space = true;
            }
            else
            {
                sb.Append(c);
                space = false;
            }
        }
        return sb.ToString();
    }

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    /// <summary>
    /// Checks a request's Authorization header against the lab's credentials. Any problem is EC2's
    /// AuthFailure (HTTP 401) — EC2 does not tell a caller which part of its signature was wrong —
    /// except a stale X-Amz-Date, which EC2 reports as RequestExpired.
    /// </summary>
    /// <exception cref="Ec2Exception">AuthFailure or RequestExpired.</exception>
    public static void Verify(Ec2HttpRequest request, Ec2Credentials credentials, DateTimeOffset now)
    {
        var (credential, signedHeaders, signature) = Authorization(request) ?? throw AuthFailure();

        // Credential = AKID/yyyyMMdd/region/service/aws4_request. Any region is accepted: the SDK
        // signs with the region it is configured with, and the lab is every region.
        var scopeParts = credential.Split('/');
        if (scopeParts.Length != 5 || scopeParts[4] != "aws4_request" || scopeParts[3] != Service)
            throw AuthFailure();
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(scopeParts[0]), Encoding.UTF8.GetBytes(credentials.AccessKeyId)))
            throw AuthFailure();
        var signed = signedHeaders.Split(';');
        if (!signed.Contains("host")) throw AuthFailure();

        if (!request.Headers.TryGetValue("x-amz-date", out var amzDate)
            || !DateTimeOffset.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var signedAt))
            throw AuthFailure();
        if (!amzDate.StartsWith(scopeParts[1], StringComparison.Ordinal)) throw AuthFailure();
        if (credentials.MaxClockSkew is { } skew && (signedAt - now).Duration() > skew)
            throw new Ec2Exception(Ec2ErrorCodes.RequestExpired,
                $"Request has expired. Timestamp date is {amzDate}.", HttpStatusCode.BadRequest);

        // A client may announce the payload hash; it must match the body it sent.
        var payloadHash = PayloadHash(request.Body.Span);
        if (request.Headers.TryGetValue("x-amz-content-sha256", out var announced) && announced != payloadHash)
            throw AuthFailure();

        var canonical = CanonicalRequest(request.Method, request.RawPath, request.RawQuery, request.Headers, signedHeaders, payloadHash);
        var scope = string.Join('/', scopeParts[1..]);
        var key = DeriveSigningKey(credentials.SecretAccessKey, scopeParts[1], scopeParts[2], scopeParts[3]);
        var expected = Signature(key, StringToSign(amzDate, scope, canonical));
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature)))
            throw AuthFailure();
    }

    /// <summary>The access key id a request says it was signed with (not verified), or null when its Authorization header is not SigV4's.</summary>
    public static string? AccessKeyIdOf(Ec2HttpRequest request) =>
        Authorization(request) is { } parts ? parts.Credential.Split('/')[0] : null;

    // The Authorization header's Credential, SignedHeaders and Signature; null when one is missing or the form is wrong.
    private static (string Credential, string SignedHeaders, string Signature)? Authorization(Ec2HttpRequest request)
    {
        if (!request.Headers.TryGetValue("authorization", out var authorization) || !authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
            return null;
        string? credential = null, signedHeaders = null, signature = null;
        foreach (var field in authorization[(Algorithm.Length + 1)..].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = field.IndexOf('=');
            if (eq < 0) return null;
            var value = field[(eq + 1)..];
            switch (field[..eq])
            {
                case "Credential": credential = value; break;
                case "SignedHeaders": signedHeaders = value; break;
                case "Signature": signature = value; break;
            }
        }
        return credential is null || signedHeaders is null || signature is null ? null : (credential, signedHeaders, signature);
    }

    private static Ec2Exception AuthFailure() =>
        new(Ec2ErrorCodes.AuthFailure, "AWS was not able to validate the provided access credentials", HttpStatusCode.Unauthorized);
}
