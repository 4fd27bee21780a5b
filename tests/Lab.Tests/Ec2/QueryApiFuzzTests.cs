using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Xml.Linq;
using CsCheck;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// Property tests of the Query API against bad input (issue 8): generated and mutated requests —
/// parameters, signatures, sizes, control characters, invalid UTF-8, lone surrogates, NUL, huge
/// values, thousands of parameters — answered in-process by the lab's <see cref="Ec2Api"/> by the
/// thousand. Invariants: never a 500 nor an exception; every refusal is a well-formed EC2 error
/// document with a documented code; a refused request stores nothing; Describe still works after.
/// FATHOM_FUZZ_SOAK=1 runs a much longer profile.
/// </summary>
public sealed class QueryApiFuzzTests : IAsyncLifetime
{
    private static readonly bool Soak = Environment.GetEnvironmentVariable("FATHOM_FUZZ_SOAK") == "1";

    /// <summary>The codes docs/lab-ec2-api.md documents: Ec2ErrorCodes, plus DryRunOperation.</summary>
    private static readonly HashSet<string> DocumentedCodes =
    [
        .. typeof(Ec2ErrorCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (string)f.GetValue(null)!),
        "DryRunOperation",
    ];

    private static readonly string[] UnfilteredDescribes =
        ["DescribeNetworkInterfaces", "DescribeInstances", "DescribeSubnets", "DescribeSecurityGroups"];

    private Ec2TestLab _lab = null!;
    private Ec2Api _api = null!;

    public async Task InitializeAsync()
    {
        _lab = await Ec2TestLab.StartAsync();
        _api = new Ec2Api(_lab.Cloud, _lab.Credentials, _lab.Faults);
    }

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    // ---------------------------------------------------------------- generators

    /// <summary>Wire fragments of a value, already percent-encoded (or deliberately not).</summary>
    private static readonly Gen<string> Fragment = Gen.Frequency(
        (6, Gen.String["abcdefghijklmnopqrstuvwxyz0123456789-_."].Select(s => s.Length > 0 ? s : "x")),
        (2, Gen.OneOfConst("eni-", "subnet-", "i-", "sg-", "eni-attach-", "tag:", "10.0.1.", "true", "0", "-1", "2147483648")),
        (3, Gen.Int[0, 0x1F].Select(c => $"%{c:X2}")),                      // C0 controls, NUL among them
        (1, Gen.OneOfConst("%7F", "%C2%80", "%C2%9F", "%C2%85")),            // DEL and C1 controls
        (2, Gen.OneOfConst("%FF", "%FE", "%C0%80", "%C3", "%E2%82", "%ED%A0%80", "%ED%BF%BF", "%F4%90%80%80", "%80", "%F0%9F%98")), // invalid UTF-8, encoded surrogates
        (1, Gen.OneOfConst("%EF%BF%BE", "%EF%BF%BF")),                      // U+FFFE, U+FFFF: not XML characters
        (1, Gen.OneOfConst("%E2%82%AC", "%F0%9F%98%80", "%E4%BD%A0", "+", "%20", "%26", "%3D", "%25")),
        (1, Gen.OneOfConst("%", "%G1", "%4", "%%", "=", "&&")),             // malformed escapes, stray separators
        (1, Gen.Int[1, 40_000].Select(n => new string('x', n))));           // huge

    private static readonly Gen<string> Value = Fragment.Array[0, 5].Select(f => string.Concat(f));

    private static readonly string[] Actions = [.. Ec2Api.ActionNames.Order(StringComparer.Ordinal)];

    private static readonly Gen<string> Action = Gen.Frequency(
        (8, Gen.OneOfConst(Actions)),
        (2, Gen.OneOfConst(Actions).SelectMany(a => Value.Select(v => a + v))),
        (1, Value));

    private static readonly string[] Names =
    [
        "Description", "Description.Value", "SubnetId", "NetworkInterfaceId", "NetworkInterfaceId.1", "InstanceId", "InstanceId.1",
        "DeviceIndex", "AttachmentId", "Force", "PrivateIpAddress", "PrivateIpAddress.1", "SecondaryPrivateIpAddressCount",
        "PrivateIpAddresses.1.PrivateIpAddress", "PrivateIpAddresses.1.Primary", "SecurityGroupId.1", "GroupId.1", "GroupName.1",
        "SubnetId.1", "InstanceType.1", "ResourceId.1", "ResourceId.2", "Tag.1.Key", "Tag.1.Value", "Tag.2.Key", "Tag.2.Value",
        "TagSpecification.1.ResourceType", "TagSpecification.1.Tag.1.Key", "TagSpecification.1.Tag.1.Value",
        "Filter.1.Name", "Filter.1.Value.1", "Filter.2.Name", "Filter.2.Value.1", "MaxResults", "NextToken",
        "Attachment.AttachmentId", "Attachment.DeleteOnTermination", "DryRun", "Version",
    ];

    /// <summary>A name=value pair; the value is often a real id of the lab, so actions get past their first check.</summary>
    private Gen<string> Pair() => Gen.Frequency(
        (6, Gen.Select(Gen.OneOfConst(Names), Gen.Frequency((3, Value), (2, Gen.OneOfConst(KnownIds())), (1, KnownIdsWith(Value))),
            (n, v) => n + "=" + v)),
        (1, Gen.Select(Value, Value, (n, v) => n + "=" + v)),
        (1, Value));

    private string[] KnownIds() =>
    [
        _lab.Subnet1.SubnetId, _lab.Tiny.SubnetId, _lab.Large.InstanceId, _lab.Small.InstanceId, _lab.Large.PrimaryNetworkInterfaceId,
        _lab.Cloud.DefaultSecurityGroupId, "network-interface", "description", "tag-key", "m5.large", "10.0.1.200",
    ];

    private Gen<string> KnownIdsWith(Gen<string> tail) => Gen.Select(Gen.OneOfConst(KnownIds()), tail, (id, t) => id + t);

    /// <summary>Thousands of parameters: filters, list members or tags.</summary>
    private static readonly Gen<string> Many = Gen.Select(Gen.Int[500, 6000], Gen.OneOfConst("Filter.{0}.Name=tag-key&Filter.{0}.Value.1=v",
        "NetworkInterfaceId.{0}=eni-0123456789abcdef0", "Tag.{0}.Key=k{0}&Tag.{0}.Value=%01", "Filter.1.Value.{0}=x"),
        (n, template) => string.Join('&', Enumerable.Range(1, n).Select(i => string.Format(System.Globalization.CultureInfo.InvariantCulture, template, i))));

    /// <param name="SignatureMutation">0 none; 1 wrong secret; 2 stale date; 3 body changed after signing; 4 garbage Authorization; 5 garbage X-Amz-Date.</param>
    /// <param name="Garbage">What mutations 4 and 5 put in the header, decoded from a generated value: any character at all.</param>
    private sealed record Fuzzed(string Method, string Query, int SignatureMutation, string Garbage = "");

    private Gen<Fuzzed> Request() =>
        Gen.Select(Action, Gen.Frequency((9, Gen.Const("Version=2016-11-15")), (1, Value.Select(v => "Version=" + v))),
            Gen.Frequency((20, Pair().Array[0, 12]), (1, Many.Select(m => new[] { m }))),
            Gen.OneOfConst("POST", "GET"), Gen.Frequency((19, Gen.Const(0)), (1, Gen.Int[1, 5])), Gen.OneOf(Value, Gen.String),
            (action, version, pairs, method, mutation, garbage) =>
                new Fuzzed(method, string.Join('&', new[] { "Action=" + action, version }.Concat(pairs)), mutation, LooselyDecoded(garbage)));

    /// <summary>Percent-escapes as raw chars (a byte per escape, not UTF-8), so a header can hold anything, lone surrogates too.</summary>
    private static string LooselyDecoded(string value) =>
        System.Text.RegularExpressions.Regex.Replace(value.Replace("%ED%A0%80", "\ud800", StringComparison.Ordinal),
            "%([0-9A-F]{2})", m => ((char)Convert.ToInt32(m.Groups[1].Value, 16)).ToString());

    // ---------------------------------------------------------------- properties

    [Fact]
    public async Task No_request_makes_the_API_fail_store_a_refused_change_or_break_a_later_call()
    {
        await Request().SampleAsync(async f =>
        {
            var before = Fingerprint();
            var (status, body) = await SendAsync(f);
            Assert.NotEqual(500, status);
            var doc = XDocument.Parse(body);
            if (status >= 400)
            {
                AssertError(doc, body);
                Assert.Equal(before, Fingerprint());
            }
            else Assert.Equal(200, status);
            foreach (var action in UnfilteredDescribes)
            {
                var (s, b) = await SendAsync(new Fuzzed("POST", $"Action={action}&Version=2016-11-15", 0));
                Assert.True(s == 200, $"{action} answered {s} after {Describe(f)}: {b}");
            }
        }, iter: Soak ? 150_000 : 3_000, threads: 1, print: Describe);
    }

    [Fact]
    public async Task Over_HTTP_too_no_request_gets_a_500_or_an_answer_that_is_not_EC2s()
    {
        // Fewer, as each is a real HTTP exchange: Kestrel and Ec2Endpoint in the path, not only the API.
        await Request().SampleAsync(async f =>
        {
            // Signed requests only: HttpClient itself refuses the garbage headers of mutations 4 and 5.
            var isGet = f.Method == "GET";
            var request = Ec2TestLab.SignedRequest(f.Method, isGet ? f.Query : "", isGet ? [] : Encoding.UTF8.GetBytes(f.Query),
                host: _lab.Server.Url.Authority);
            var (status, body) = await _lab.SendAsync(request);
            Assert.NotEqual(System.Net.HttpStatusCode.InternalServerError, status);
            // Documented (docs/lab-ec2-api.md, Bad input): refused by the HTTP server before the API sees them.
            if (status is System.Net.HttpStatusCode.RequestEntityTooLarge or System.Net.HttpStatusCode.RequestUriTooLong) return;
            var doc = XDocument.Parse(body);
            if ((int)status >= 400) AssertError(doc, body);
        }, iter: Soak ? 10_000 : 200, threads: 1, print: Describe);
    }

    [Theory]
    [InlineData("Action=CreateNetworkInterface&Version=2016-11-15&SubnetId={subnet}&Description=a%01b", "InvalidParameterValue")]
    [InlineData("Action=CreateNetworkInterface&Version=2016-11-15&SubnetId={subnet}&Description=nul%00", "InvalidParameterValue")]
    [InlineData("Action=CreateNetworkInterface&Version=2016-11-15&SubnetId={subnet}&Description=%ED%A0%80", "InvalidParameterValue")]
    [InlineData("Action=CreateNetworkInterface&Version=2016-11-15&SubnetId={subnet}&Description=%FF%FE", "InvalidParameterValue")]
    [InlineData("Action=CreateNetworkInterface&Version=2016-11-15&SubnetId={subnet}&Description=%EF%BF%BF", "InvalidParameterValue")]
    [InlineData("Action=CreateNetworkInterface&Version=2016-11-15&SubnetId={subnet}&TagSpecification.1.ResourceType=network-interface&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=%1B[31m", "InvalidParameterValue")]
    [InlineData("Action=CreateTags&Version=2016-11-15&ResourceId.1={eni}&Tag.1.Key=k&Tag.1.Value=v%07", "InvalidParameterValue")]
    [InlineData("Action=CreateTags&Version=2016-11-15&ResourceId.1={eni}&Tag.1.Key=k%0B&Tag.1.Value=v", "InvalidParameterValue")]
    [InlineData("Action=ModifyNetworkInterfaceAttribute&Version=2016-11-15&NetworkInterfaceId={eni}&Description.Value=%08", "InvalidParameterValue")]
    [InlineData("Action=DescribeSubnets%01&Version=2016-11-15", "InvalidAction")]
    [InlineData("Action=%00&Version=2016-11-15", "InvalidAction")]
    [InlineData("Action=Describe%FFSubnets&Version=2016-11-15", "InvalidAction")]
    public async Task A_control_character_or_bad_UTF8_is_a_400_EC2_error_over_HTTP_and_nothing_is_stored(string template, string expected)
    {
        var query = template.Replace("{subnet}", _lab.Subnet1.SubnetId).Replace("{eni}", _lab.Large.PrimaryNetworkInterfaceId);
        var before = Fingerprint();
        foreach (var method in new[] { "POST", "GET" })
        {
            var (status, body) = await _lab.SendRawAsync(query, method);
            Assert.Equal(System.Net.HttpStatusCode.BadRequest, status);
            Assert.Equal(expected, AssertError(XDocument.Parse(body), body));
        }
        Assert.Equal(before, Fingerprint());
        foreach (var action in UnfilteredDescribes)
            Assert.Equal(System.Net.HttpStatusCode.OK, (await _lab.SendRawAsync($"Action={action}&Version=2016-11-15")).Status);
    }

    [Fact]
    public async Task A_value_stored_by_the_lab_itself_cannot_make_Describe_fail()
    {
        // The lab's own API (not the Query API) takes names as given: the XML writer must still answer.
        _lab.Cloud.CreateSecurityGroup("bell\u0007", "nul\0 and a lone \ud800 surrogate");
        var (status, body) = await SendAsync(new Fuzzed("POST", "Action=DescribeSecurityGroups&Version=2016-11-15", 0));
        Assert.Equal(200, status);
        Assert.Contains("bell\ufffd", XDocument.Parse(body).ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parsing_a_signed_query_is_linear_in_its_parameter_count()
    {
        // 40,000 filters took ~20 s when each filter rescanned every parameter. A ratio, not a
        // time: the machine is shared, and load slows both sizes alike. Linear is ~4x, quadratic ~16x:
        // the bound sits between them, on the best of seven runs of each, the sizes taking turns (so a
        // burst of other work — the lab's tests run in parallel — lands on both), each after a full collection.
        var small = Query(10_000);
        var large = Query(40_000);
        TimeSpan bestSmall = TimeSpan.MaxValue, bestLarge = TimeSpan.MaxValue;
        for (var run = 0; run < 7; run++)
        {
            bestSmall = Min(bestSmall, ParseTime(small, 10_000));
            bestLarge = Min(bestLarge, ParseTime(large, 40_000));
        }
        Assert.True(bestLarge < bestSmall * 10,
            $"4x the filters took {bestLarge.TotalMilliseconds / bestSmall.TotalMilliseconds:0.0}x the time ({bestSmall} → {bestLarge})");
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private static string Query(int filters) => "Action=DescribeNetworkInterfaces&Version=2016-11-15&"
        + string.Join('&', Enumerable.Range(1, filters).Select(i => $"Filter.{i}.Name=tag-key&Filter.{i}.Value.1=v{i}"));

    private static TimeSpan ParseTime(string query, int filters)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var watch = Stopwatch.StartNew();
        var q = QueryParameters.Parse(query);
        var values = q.Indexes("Filter").Sum(i => q.List($"Filter.{i}.Value").Count);
        watch.Stop();
        Assert.Equal(filters, values);
        return watch.Elapsed;
    }

    [Fact]
    public async Task Too_many_filter_values_is_FilterLimitExceeded()
    {
        var query = "Action=DescribeNetworkInterfaces&Version=2016-11-15&"
            + string.Join('&', Enumerable.Range(1, 20_000).Select(i => $"Filter.{i}.Name=tag-key&Filter.{i}.Value.1=v{i}"));
        var (status, body) = await SendAsync(new Fuzzed("POST", query, 0));
        Assert.Equal(400, status);
        Assert.Equal("FilterLimitExceeded", AssertError(XDocument.Parse(body), body));
    }

    // ---------------------------------------------------------------- helpers

    private async Task<(int Status, string Body)> SendAsync(Fuzzed f)
    {
        var isGet = f.Method == "GET";
        var body = isGet ? [] : Encoding.UTF8.GetBytes(f.Query);
        var request = Ec2TestLab.SignedRequest(f.Method, isGet ? f.Query : "", body,
            secret: f.SignatureMutation == 1 ? "guess" : null,
            at: f.SignatureMutation == 2 ? DateTimeOffset.UtcNow.AddHours(-2) : null);
        if (f.SignatureMutation == 3) request = request with { Body = Encoding.UTF8.GetBytes(f.Query + "&Extra=1") };
        if (f.SignatureMutation is 4 or 5)
            request = request with
            {
                Headers = new Dictionary<string, string>(request.Headers) { [f.SignatureMutation == 4 ? "authorization" : "x-amz-date"] =
                    // Half the garbage Authorization headers get as far as the credential's parsing.
                    f.SignatureMutation == 4 && f.Garbage.Length % 2 == 0 ? $"AWS4-HMAC-SHA256 Credential={Ec2Credentials.Lab.AccessKeyId}/{f.Garbage}" : f.Garbage },
            };
        var response = await _api.HandleAsync(request);
        return (response.StatusCode, Encoding.UTF8.GetString(response.Body));
    }

    /// <summary>Asserts EC2's error document (Response/Errors/Error/{Code,Message}, RequestID) and returns its code.</summary>
    private static string AssertError(XDocument doc, string body)
    {
        Assert.Equal("Response", doc.Root!.Name.LocalName);
        var error = doc.Root.Element("Errors")?.Element("Error");
        Assert.True(error is not null, body);
        var code = error.Element("Code")?.Value;
        Assert.True(code is not null && DocumentedCodes.Contains(code), $"undocumented code in {body}");
        Assert.NotNull(error.Element("Message"));
        Assert.False(string.IsNullOrEmpty(doc.Root.Element("RequestID")?.Value), body);
        return code;
    }

    /// <summary>Everything a request could store: ENIs (addresses, groups, description, tags, attachment) and every resource's tags.</summary>
    private string Fingerprint()
    {
        var sb = new StringBuilder();
        foreach (var e in _lab.Cloud.NetworkInterfaces)
            sb.Append(e.NetworkInterfaceId).Append(' ').Append(e.Description).Append(' ').AppendJoin(',', e.AllPrivateIps)
                .Append(' ').AppendJoin(',', e.SecurityGroupIds).Append(' ').Append(e.Attachment).Append(Tags(e.Tags)).Append('\n');
        foreach (var i in _lab.Cloud.Instances) sb.Append(i.InstanceId).Append(Tags(i.Tags)).Append('\n');
        foreach (var s in _lab.Cloud.Subnets) sb.Append(s.SubnetId).Append(Tags(s.Tags)).Append('\n');
        foreach (var g in _lab.Cloud.SecurityGroups) sb.Append(g.GroupId).Append(Tags(g.Tags)).Append('\n');
        return sb.ToString();
    }

    private static string Tags(IReadOnlyDictionary<string, string> tags) =>
        string.Concat(tags.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => $" {t.Key}={t.Value}"));

    private static string Describe(Fuzzed f) =>
        $"{f.Method} sig#{f.SignatureMutation} {(f.SignatureMutation >= 4 ? $"[{string.Concat(f.Garbage.Take(80).Select(c => c < ' ' || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString()))}] " : "")}{(f.Query.Length > 400 ? f.Query[..400] + $"… ({f.Query.Length} chars)" : f.Query)}";
}
