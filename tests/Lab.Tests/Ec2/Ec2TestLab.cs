using System.Net;
using System.Text;
using Amazon.EC2;
using Amazon.Runtime;
using Fathom.Lab.Ec2;

namespace Fathom.Lab.Tests.Ec2;

/// <summary>
/// One emulated VPC served on 127.0.0.1 (a free port) with <see cref="NullVpcFabric"/>, and the
/// client the agent uses (AWSSDK.EC2) pointed at it. Fresh per test; disposed after it.
/// </summary>
internal sealed class Ec2TestLab : IAsyncDisposable
{
    public const string Region = "us-east-1";
    public const string Az = "us-east-1a";

    public Ec2Cloud Cloud { get; }
    public FaultPlan Faults { get; } = new(new Random(7));
    public Ec2Credentials Credentials { get; } = Ec2Credentials.Lab;
    public Ec2Server Server { get; private set; } = null!;
    public AmazonEC2Client Client { get; private set; } = null!;

    /// <summary>10.0.1.0/24 and 10.0.2.0/24 in us-east-1a, 10.0.3.0/28 (11 usable addresses) for exhaustion, 10.0.4.0/24 in us-east-1b.</summary>
    public Subnet Subnet1 { get; }
    public Subnet Subnet2 { get; }
    public Subnet Tiny { get; }
    public Subnet OtherAz { get; }

    /// <summary>An m5.large (3 ENIs × 10 IPs) and a t3.small (3 ENIs × 4 IPs) in subnet 1.</summary>
    public Instance Large { get; private set; } = null!;
    public Instance Small { get; private set; } = null!;

    private Ec2TestLab(IVpcFabric fabric)
    {
        Cloud = new Ec2Cloud(fabric, new Ec2CloudOptions { VpcId = "vpc-0123456789abcdef0" }, random: new Random(42));
        Subnet1 = Cloud.CreateSubnet("10.0.1.0/24", Az);
        Subnet2 = Cloud.CreateSubnet("10.0.2.0/24", Az);
        Tiny = Cloud.CreateSubnet("10.0.3.0/28", Az);
        OtherAz = Cloud.CreateSubnet("10.0.4.0/24", "us-east-1b");
    }

    public static async Task<Ec2TestLab> StartAsync(IVpcFabric? fabric = null)
    {
        var lab = new Ec2TestLab(fabric ?? new NullVpcFabric());
        lab.Large = await lab.Cloud.LaunchInstanceAsync("m5.large", lab.Subnet1.SubnetId, "node-large");
        lab.Small = await lab.Cloud.LaunchInstanceAsync("t3.small", lab.Subnet1.SubnetId, "node-small");
        lab.Server = await Ec2Server.StartOnLoopbackAsync(lab.Cloud, lab.Credentials, lab.Faults);
        lab.Client = lab.NewClient(lab.Credentials.SecretAccessKey);
        return lab;
    }

    /// <summary>An SDK client as the agent configures one: the lab's URL, no retries so every error is seen.</summary>
    public AmazonEC2Client NewClient(string secret, string region = Region) =>
        new(new BasicAWSCredentials(Credentials.AccessKeyId, secret), new AmazonEC2Config
        {
            ServiceURL = Server.Url.ToString(),
            AuthenticationRegion = region,
            MaxErrorRetry = 0,
            Timeout = TimeSpan.FromSeconds(30),
        });

    /// <summary>Sends a raw Query request signed with SigV4 (or unsigned), for what the SDK cannot send.</summary>
    public async Task<(HttpStatusCode Status, string Body)> SendRawAsync(string query, string method = "POST", bool sign = true,
        string? secret = null, DateTimeOffset? at = null)
    {
        using var http = new HttpClient();
        var isGet = method == "GET";
        var uri = new Uri(Server.Url, isGet ? "/?" + query : "/");
        using var request = new HttpRequestMessage(new HttpMethod(method), uri);
        var body = isGet ? "" : query;
        if (!isGet) request.Content = new StringContent(body, Encoding.UTF8, "application/x-www-form-urlencoded");
        if (sign)
        {
            var contentType = isGet ? null : FormContentType;
            var headers = SignedHeaders(method, uri.Authority, isGet ? query : "", Encoding.UTF8.GetBytes(body), contentType, secret, at);
            request.Headers.TryAddWithoutValidation("X-Amz-Date", headers["x-amz-date"]);
            request.Headers.TryAddWithoutValidation("Authorization", headers["authorization"]);
            if (request.Content is not null)
                request.Content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType!);
        }
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Sends a request built for <see cref="Ec2Api.HandleAsync"/> (signed for this server's host) over HTTP, headers and bytes as they are.</summary>
    public async Task<(HttpStatusCode Status, string Body)> SendAsync(Ec2HttpRequest request)
    {
        using var http = new HttpClient();
        using var message = new HttpRequestMessage(new HttpMethod(request.Method),
            new Uri(Server.Url, request.RawQuery.Length > 0 ? "/?" + request.RawQuery : "/"));
        if (request.Method != "GET") message.Content = new ByteArrayContent(request.Body.ToArray());
        foreach (var (name, value) in request.Headers)
        {
            if (name == "host") continue;
            if (name == "content-type") message.Content?.Headers.TryAddWithoutValidation(name, value);
            else message.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await http.SendAsync(message);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private const string FormContentType = "application/x-www-form-urlencoded; charset=utf-8";

    /// <summary>
    /// A request as <see cref="Ec2Api.HandleAsync"/> sees it, signed like the SDK signs: the query in a
    /// form body (POST) or in the query string (GET). The body is bytes, so it may be anything.
    /// </summary>
    public static Ec2HttpRequest SignedRequest(string method, string rawQuery, byte[] body, string? secret = null, DateTimeOffset? at = null,
        string host = "127.0.0.1:1")
    {
        var contentType = body.Length > 0 ? FormContentType : null;
        var headers = SignedHeaders(method, host, rawQuery, body, contentType, secret, at);
        return new Ec2HttpRequest(method, "/", rawQuery, headers, body);
    }

    /// <summary>The headers of a SigV4-signed request (lower-case names), authorization included.</summary>
    private static Dictionary<string, string> SignedHeaders(string method, string host, string rawQuery, byte[] body, string? contentType,
        string? secret, DateTimeOffset? at)
    {
        var now = at ?? DateTimeOffset.UtcNow;
        var amzDate = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var date = amzDate[..8];
        var headers = new Dictionary<string, string>(StringComparer.Ordinal) { ["host"] = host, ["x-amz-date"] = amzDate };
        if (contentType is not null) headers["content-type"] = contentType;
        var signed = string.Join(';', headers.Keys.Order(StringComparer.Ordinal));
        var canonical = SigV4.CanonicalRequest(method, "/", rawQuery, headers, signed, SigV4.PayloadHash(body));
        var scope = $"{date}/{Region}/ec2/aws4_request";
        var key = SigV4.DeriveSigningKey(secret ?? Ec2Credentials.Lab.SecretAccessKey, date, Region, "ec2");
        var signature = SigV4.Signature(key, SigV4.StringToSign(amzDate, scope, canonical));
        headers["authorization"] = $"AWS4-HMAC-SHA256 Credential={Ec2Credentials.Lab.AccessKeyId}/{scope}, SignedHeaders={signed}, Signature={signature}";
        return headers;
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
    }
}

/// <summary>
/// Stands in for the kernel realization (C2's Topology/) where a test needs to see or break the
/// calls the API makes: it records them and can be told to fail.
/// </summary>
internal sealed class RecordingFabric : IVpcFabric
{
    private readonly Lock _gate = new();
    public List<string> Calls { get; } = [];
    public bool FailAttach { get; set; }
    public bool FailEniChanged { get; set; }

    public Task AttachAsync(EniAttachment attachment, CancellationToken cancellationToken)
    {
        lock (_gate) Calls.Add($"attach {attachment.EniId} {attachment.InstanceId} eth{attachment.DeviceIndex} {Fathom.Netlink.InterfaceNames.FormatMac(attachment.MacAddress)} {attachment.PrimaryIp}");
        return FailAttach ? Task.FromException(new IOException("veth creation failed")) : Task.CompletedTask;
    }

    public Task DetachAsync(EniAttachment attachment, CancellationToken cancellationToken)
    {
        lock (_gate) Calls.Add($"detach {attachment.EniId} {attachment.InstanceId} eth{attachment.DeviceIndex}");
        return Task.CompletedTask;
    }

    public Task EniChangedAsync(string eniId, EniSnapshot? eni, CancellationToken cancellationToken)
    {
        lock (_gate) Calls.Add(eni is null ? $"deleted {eniId}" : $"changed {eniId} {eni.PrimaryIp} +{eni.SecondaryIps.Count}");
        return FailEniChanged ? Task.FromException(new IOException("dnsmasq reload failed")) : Task.CompletedTask;
    }
}
