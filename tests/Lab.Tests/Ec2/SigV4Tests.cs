using System.Globalization;
using System.Text;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// SigV4 against AWS's documented vectors: the signing-key derivation example and the IAM
/// ListUsers walk-through of "Create a signed AWS API request" (IAM user guide), and the
/// get-vanilla case of the AWS SigV4 test suite. Then the server-side checks of Verify().
/// </summary>
public sealed class SigV4Tests
{
    private const string ExampleSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    [Fact]
    public void Derives_the_documented_signing_key()
    {
        var key = SigV4.DeriveSigningKey(ExampleSecret, "20120215", "us-east-1", "iam");
        Assert.Equal("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d", Convert.ToHexStringLower(key));
    }

    [Fact]
    public void Reproduces_the_documented_ListUsers_signature()
    {
        var headers = new Dictionary<string, string>
        {
            ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8",
            ["host"] = "iam.amazonaws.com",
            ["x-amz-date"] = "20150830T123600Z",
        };
        var canonical = SigV4.CanonicalRequest("GET", "/", "Action=ListUsers&Version=2010-05-08", headers,
            "content-type;host;x-amz-date", SigV4.EmptyPayloadHash);
        Assert.Equal(
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\n" +
            "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n" + SigV4.EmptyPayloadHash,
            canonical);
        var toSign = SigV4.StringToSign("20150830T123600Z", "20150830/us-east-1/iam/aws4_request", canonical);
        Assert.EndsWith("\nf536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59", toSign);
        var key = SigV4.DeriveSigningKey(ExampleSecret, "20150830", "us-east-1", "iam");
        Assert.Equal("5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7", SigV4.Signature(key, toSign));
    }

    [Fact]
    public void Reproduces_the_test_suites_get_vanilla()
    {
        var headers = new Dictionary<string, string> { ["host"] = "example.amazonaws.com", ["x-amz-date"] = "20150830T123600Z" };
        var canonical = SigV4.CanonicalRequest("GET", "/", "", headers, "host;x-amz-date", SigV4.EmptyPayloadHash);
        var key = SigV4.DeriveSigningKey(ExampleSecret, "20150830", "us-east-1", "service");
        var signature = SigV4.Signature(key, SigV4.StringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical));
        Assert.Equal("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31", signature);
    }

    [Theory]
    [InlineData("b=2&a=1", "a=1&b=2")]
    [InlineData("a=2&a=1", "a=1&a=2")]
    [InlineData("Filter.1.Value.1=tag%3Afoo%20bar", "Filter.1.Value.1=tag%3Afoo%20bar")]
    [InlineData("x=a~b-c_d.e", "x=a~b-c_d.e")]
    [InlineData("flag", "flag=")]
    public void Canonicalizes_the_query(string raw, string canonical) => Assert.Equal(canonical, SigV4.CanonicalQuery(raw));

    [Fact]
    public void Canonical_header_values_are_trimmed_and_spaces_collapsed() =>
        Assert.Equal("a b c", SigV4.CanonicalHeaderValue("  a   b c "));

    private static Ec2HttpRequest Signed(Ec2Credentials creds, string body, DateTimeOffset at, string? secret = null,
        string service = "ec2", Action<Dictionary<string, string>>? tamper = null)
    {
        var amzDate = at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string>
        {
            ["content-type"] = "application/x-www-form-urlencoded; charset=utf-8",
            ["host"] = "10.0.0.2:8080",
            ["x-amz-date"] = amzDate,
        };
        var bytes = Encoding.UTF8.GetBytes(body);
        const string signed = "content-type;host;x-amz-date";
        var canonical = SigV4.CanonicalRequest("POST", "/", "", headers, signed, SigV4.PayloadHash(bytes));
        var scope = $"{amzDate[..8]}/ap-south-2/{service}/aws4_request";
        var key = SigV4.DeriveSigningKey(secret ?? creds.SecretAccessKey, amzDate[..8], "ap-south-2", service);
        headers["authorization"] = $"AWS4-HMAC-SHA256 Credential={creds.AccessKeyId}/{scope}, SignedHeaders={signed}, " +
            $"Signature={SigV4.Signature(key, SigV4.StringToSign(amzDate, scope, canonical))}";
        tamper?.Invoke(headers);
        return new Ec2HttpRequest("POST", "/", "", headers, bytes);
    }

    private static readonly DateTimeOffset Now = new(2026, 11, 28, 7, 0, 0, TimeSpan.Zero);
    private const string Body = "Action=DescribeSubnets&Version=2016-11-15";

    [Fact]
    public void Verify_accepts_a_correct_signature_in_any_region() =>
        SigV4.Verify(Signed(Ec2Credentials.Lab, Body, Now), Ec2Credentials.Lab, Now.AddMinutes(3));

    public static TheoryData<string, Func<Ec2HttpRequest>> Rejected => new()
    {
        { "wrong secret", () => Signed(Ec2Credentials.Lab, Body, Now, secret: "nope") },
        { "other service", () => Signed(Ec2Credentials.Lab, Body, Now, service: "iam") },
        { "no header", () => Signed(Ec2Credentials.Lab, Body, Now, tamper: h => h.Remove("authorization")) },
        { "body changed", () => Signed(Ec2Credentials.Lab, Body, Now) with { Body = Encoding.UTF8.GetBytes(Body + "&DryRun=true") } },
        { "unknown key", () => Signed(Ec2Credentials.Lab with { AccessKeyId = "AKIAOTHER" }, Body, Now) },
        { "SigV2-style header", () => Signed(Ec2Credentials.Lab, Body, Now, tamper: h => h["authorization"] = "AWS AKIA:abc") },
        { "lying content hash", () => Signed(Ec2Credentials.Lab, Body, Now, tamper: h => h["x-amz-content-sha256"] = SigV4.EmptyPayloadHash) },
        { "host not signed", () => Signed(Ec2Credentials.Lab, Body, Now, tamper: h => h["authorization"] = h["authorization"].Replace("content-type;host;x-amz-date", "content-type;x-amz-date")) },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public void Verify_refuses_with_AuthFailure(string why, Func<Ec2HttpRequest> request)
    {
        var e = Assert.Throws<Ec2Exception>(() => SigV4.Verify(request(), Ec2Credentials.Lab, Now));
        Assert.True(e.Code == "AuthFailure", why);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, e.StatusCode);
    }

    [Fact]
    public void A_stale_request_is_RequestExpired()
    {
        var e = Assert.Throws<Ec2Exception>(() => SigV4.Verify(Signed(Ec2Credentials.Lab, Body, Now), Ec2Credentials.Lab, Now.AddMinutes(16)));
        Assert.Equal("RequestExpired", e.Code);
    }
}
