using System.Net;
using System.Xml.Linq;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// The wire format other clients depend on: raw Query requests (POST form and GET), EC2's XML
/// with its namespace and requestId, the error document, and authentication failures.
/// </summary>
public sealed class Ec2WireTests : IAsyncLifetime
{
    private static readonly XNamespace Ns = "http://ec2.amazonaws.com/doc/2016-11-15/";
    private Ec2TestLab _lab = null!;

    public async Task InitializeAsync() => _lab = await Ec2TestLab.StartAsync();

    public async Task DisposeAsync() => await _lab.DisposeAsync();

    private static (string Code, string Message, string RequestId) ParseError(string body)
    {
        var doc = XDocument.Parse(body);
        Assert.Equal("Response", doc.Root!.Name.LocalName);
        var error = doc.Root.Element("Errors")!.Element("Error")!;
        return (error.Element("Code")!.Value, error.Element("Message")!.Value, doc.Root.Element("RequestID")!.Value);
    }

    [Fact]
    public async Task A_response_is_EC2_XML_with_a_requestId()
    {
        var (status, body) = await _lab.SendRawAsync("Action=DescribeSubnets&Version=2016-11-15");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("<?xml version=\"1.0\" encoding=\"utf-8\"?>", body);
        var root = XDocument.Parse(body).Root!;
        Assert.Equal(Ns + "DescribeSubnetsResponse", root.Name);
        Assert.True(Guid.TryParse(root.Element(Ns + "requestId")?.Value, out _));
        Assert.Equal(4, root.Element(Ns + "subnetSet")!.Elements(Ns + "item").Count());
    }

    [Fact]
    public async Task GET_with_a_signed_query_string_works()
    {
        var (status, body) = await _lab.SendRawAsync("Action=DescribeInstanceTypes&Version=2016-11-15&InstanceType.1=m5.24xlarge", method: "GET");
        Assert.Equal(HttpStatusCode.OK, status);
        var info = XDocument.Parse(body).Root!.Element(Ns + "instanceTypeSet")!.Element(Ns + "item")!.Element(Ns + "networkInfo")!;
        Assert.Equal("15", info.Element(Ns + "maximumNetworkInterfaces")!.Value);
        Assert.Equal("50", info.Element(Ns + "ipv4AddressesPerInterface")!.Value);
    }

    [Fact]
    public async Task An_unsigned_request_is_AuthFailure_401()
    {
        var (status, body) = await _lab.SendRawAsync("Action=DescribeNetworkInterfaces&Version=2016-11-15", sign: false);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        var (code, message, requestId) = ParseError(body);
        Assert.Equal("AuthFailure", code);
        Assert.Contains("credentials", message);
        Assert.NotEmpty(requestId);
    }

    [Fact]
    public async Task A_bad_signature_is_AuthFailure_even_for_an_unknown_action()
    {
        var (status, body) = await _lab.SendRawAsync("Action=RunInstances&Version=2016-11-15", secret: "guess");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal("AuthFailure", ParseError(body).Code);
    }

    [Fact]
    public async Task A_stale_signature_is_RequestExpired()
    {
        var (status, body) = await _lab.SendRawAsync("Action=DescribeSubnets&Version=2016-11-15", at: DateTimeOffset.UtcNow.AddHours(-1));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("RequestExpired", ParseError(body).Code);
    }

    [Theory]
    [InlineData("Action=RunInstances&Version=2016-11-15", "InvalidAction")]
    [InlineData("Version=2016-11-15", "MissingParameter")]
    [InlineData("Action=DescribeSubnets", "MissingParameter")]
    [InlineData("Action=AttachNetworkInterface&Version=2016-11-15&NetworkInterfaceId=eni-0123456789abcdef0&InstanceId=i-0123456789abcdef0", "MissingParameter")]
    [InlineData("Action=AttachNetworkInterface&Version=2016-11-15&NetworkInterfaceId=eni-0123456789abcdef0&InstanceId=i-0123456789abcdef0&DeviceIndex=x", "InvalidParameterValue")]
    [InlineData("Action=DescribeNetworkInterfaces&Version=2016-11-15&NetworkInterfaceId.1=eni-nothex", "InvalidNetworkInterfaceID.Malformed")]
    [InlineData("Action=DeleteNetworkInterface&Version=2016-11-15&NetworkInterfaceId=eni-0123456789abcdef0&DryRun=true", "DryRunOperation")]
    public async Task Client_errors_are_400_with_EC2s_codes(string query, string expected)
    {
        var (status, body) = await _lab.SendRawAsync(query);
        var (code, _, _) = ParseError(body);
        Assert.Equal(expected, code);
        Assert.Equal(expected == "DryRunOperation" ? HttpStatusCode.PreconditionFailed : HttpStatusCode.BadRequest, status);
    }

    [Fact]
    public async Task Mutations_answer_return_true()
    {
        var eniId = _lab.Cloud.NetworkInterfaces[0].NetworkInterfaceId;
        var (status, body) = await _lab.SendRawAsync($"Action=CreateTags&Version=2016-11-15&ResourceId.1={eniId}&Tag.1.Key=k&Tag.1.Value=v");
        Assert.Equal(HttpStatusCode.OK, status);
        var root = XDocument.Parse(body).Root!;
        Assert.Equal(Ns + "CreateTagsResponse", root.Name);
        Assert.Equal("true", root.Element(Ns + "return")!.Value);
    }

    [Fact]
    public async Task An_oversized_body_is_refused_before_it_is_buffered()
    {
        var (status, _) = await _lab.SendRawAsync("Action=DescribeSubnets&Version=2016-11-15&Pad=" + new string('x', 2 << 20), sign: false);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
    }
}
