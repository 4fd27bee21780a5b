using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;

namespace Fathom.Cloud.Aws;

/// <summary>Where and how <see cref="ImdsClient"/> talks to the instance metadata service.</summary>
public sealed record ImdsClientOptions
{
    /// <summary>The service (default http://169.254.169.254/; the lab serves the same address in each instance's namespace).</summary>
    public Uri Endpoint { get; init; } = new("http://169.254.169.254/");

    /// <summary>Lifetime asked for each session token (default 6 h, IMDS's maximum).</summary>
    public TimeSpan TokenTtl { get; init; } = TimeSpan.FromHours(6);

    /// <summary>A token with less than this left is replaced before use (default 5 min, at most half of <see cref="TokenTtl"/>), so no request goes out with one about to expire.</summary>
    public TimeSpan RefreshBeforeExpiry { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Bound on each request (default 2 s): IMDS is link-local and answers in milliseconds, so a longer silence means it is unreachable.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// An IMDSv2 client: <c>PUT /latest/api/token</c> with <c>X-aws-ec2-metadata-token-ttl-seconds</c>
/// for a session token, then GETs carrying it in <c>X-aws-ec2-metadata-token</c> (EC2 user guide,
/// "Use the Instance Metadata Service to access instance metadata"). The token is cached and
/// renewed before it expires, and once more if the service refuses it (401). Thread-safe.
/// </summary>
/// <remarks>
/// <para>Hop limit: IMDS answers the token PUT with an IP TTL of the instance's
/// <c>HttpPutResponseHopLimit</c> (1 unless changed). The agent runs in the node's network
/// namespace, one hop from IMDS, so 1 is enough; run it in a container behind a bridge or NAT and
/// the answer dies on the way — the PUT then times out (<see cref="ImdsClientOptions.RequestTimeout"/>)
/// rather than failing fast. Raise the hop limit to 2 (<c>aws ec2 modify-instance-metadata-options
/// --http-put-response-hop-limit 2</c>) in that case.</para>
/// <para>Failures are <see cref="CloudException"/>s with codes <c>Imds.&lt;status&gt;</c>,
/// <c>Imds.Timeout</c> or <c>Imds.Unreachable</c>.</para>
/// </remarks>
public sealed class ImdsClient : IDisposable
{
    /// <summary>The header that carries the token.</summary>
    public const string TokenHeader = "X-aws-ec2-metadata-token";

    /// <summary>The header that asks for (and returns) the token's lifetime in seconds.</summary>
    public const string TtlHeader = "X-aws-ec2-metadata-token-ttl-seconds";

    private const string TokenPath = "latest/api/token";
    private const string MetaDataPath = "latest/meta-data/";

    private readonly HttpClient _http;
    private readonly ImdsClientOptions _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _tokenGate = new(1, 1);
    private (string Value, DateTimeOffset Expires)? _token;

    /// <summary>A client of the service at <see cref="ImdsClientOptions.Endpoint"/>.</summary>
    /// <param name="options">Endpoint, token lifetime and time-outs.</param>
    /// <param name="handler">The HTTP handler to send with (default: a new <see cref="SocketsHttpHandler"/>, owned by this client); the caller keeps ownership of one it passes.</param>
    /// <param name="time">Clock for the token's expiry and the time-outs.</param>
    public ImdsClient(ImdsClientOptions? options = null, HttpMessageHandler? handler = null, TimeProvider? time = null)
    {
        _options = options ?? new ImdsClientOptions();
        var ttl = (int)_options.TokenTtl.TotalSeconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(ttl, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ttl, 21600, nameof(options));
        _time = time ?? TimeProvider.System;
        // Proxies must never see metadata requests (an HTTP_PROXY in the agent's environment would otherwise apply).
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        // Paths are resolved against it: without a final '/', its last segment would be replaced.
        var endpoint = _options.Endpoint.AbsoluteUri;
        _http.BaseAddress = new Uri(endpoint.EndsWith('/') ? endpoint : endpoint + "/");
        _http.Timeout = Timeout.InfiniteTimeSpan; // bounded per request on our clock instead
    }

    /// <summary>The text at a meta-data path, e.g. "instance-id" or "placement/region".</summary>
    /// <exception cref="CloudException">NotFound (Imds.404) when the path does not exist; Transient when IMDS fails or is unreachable.</exception>
    public async Task<string> GetAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var token = await TokenAsync(renew: false, cancellationToken).ConfigureAwait(false);
        var (status, body) = await SendAsync(HttpMethod.Get, MetaDataPath + path.TrimStart('/'), token, cancellationToken).ConfigureAwait(false);
        if (status == HttpStatusCode.Unauthorized)
        {
            // The service forgot the token (restarted, or the instance was stopped): one new token, one more try.
            token = await TokenAsync(renew: true, cancellationToken).ConfigureAwait(false);
            (status, body) = await SendAsync(HttpMethod.Get, MetaDataPath + path.TrimStart('/'), token, cancellationToken).ConfigureAwait(false);
        }
        return status == HttpStatusCode.OK ? body : throw Failure(status, path, body);
    }

    /// <summary>Reads this instance's identity: instance, placement, and its primary ENI (by the instance's MAC).</summary>
    public async Task<InstanceIdentity> GetIdentityAsync(CancellationToken cancellationToken = default)
    {
        // The MAC first (it names the primary ENI's keys), then the rest in parallel: none is left unobserved if one fails.
        var mac = (await GetAsync("mac", cancellationToken).ConfigureAwait(false)).Trim();
        var instanceId = GetAsync("instance-id", cancellationToken);
        var instanceType = GetAsync("instance-type", cancellationToken);
        var zone = GetAsync("placement/availability-zone", cancellationToken);
        var region = GetAsync("placement/region", cancellationToken);
        var eni = $"network/interfaces/macs/{mac}/";
        var eniId = GetAsync(eni + "interface-id", cancellationToken);
        var subnetId = GetAsync(eni + "subnet-id", cancellationToken);
        var groups = GetAsync(eni + "security-group-ids", cancellationToken);
        var vpcId = GetAsync(eni + "vpc-id", cancellationToken);
        var vpcCidrs = GetAsync(eni + "vpc-ipv4-cidr-blocks", cancellationToken);
        var subnetCidr = GetAsync(eni + "subnet-ipv4-cidr-block", cancellationToken);
        await Task.WhenAll(instanceId, instanceType, zone, region, eniId, subnetId, groups, vpcId, vpcCidrs, subnetCidr).ConfigureAwait(false);
        return new InstanceIdentity(
            InstanceId: instanceId.Result.Trim(),
            InstanceType: instanceType.Result.Trim(),
            AvailabilityZone: zone.Result.Trim(),
            Region: region.Result.Trim(),
            PrimaryEniId: eniId.Result.Trim(),
            PrimaryMac: ParseMac(mac),
            SubnetId: subnetId.Result.Trim(),
            SubnetCidr: ParseCidr(subnetCidr.Result.Trim()),
            SecurityGroupIds: Lines(groups.Result),
            VpcId: vpcId.Result.Trim(),
            VpcCidrs: [.. Lines(vpcCidrs.Result).Select(ParseCidr)]);
    }

    /// <summary>The MACs under <c>network/interfaces/macs/</c>: the interfaces IMDS knows attached to this instance (a new one appears a few seconds after its attach).</summary>
    public async Task<IReadOnlyList<PhysicalAddress>> GetInterfaceMacsAsync(CancellationToken cancellationToken = default) =>
        [.. Lines(await GetAsync("network/interfaces/macs/", cancellationToken).ConfigureAwait(false)).Select(line => ParseMac(line.TrimEnd('/')))];

    /// <summary>Forgets the cached token (the next request asks for a new one).</summary>
    public void InvalidateToken()
    {
        _tokenGate.Wait();
        try { _token = null; }
        finally { _tokenGate.Release(); }
    }

    private async Task<string> TokenAsync(bool renew, CancellationToken cancellationToken)
    {
        await _tokenGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A margin as long as the lifetime would renew on every request: never more than half of it.
            var margin = TimeSpan.FromTicks(Math.Min(_options.RefreshBeforeExpiry.Ticks, _options.TokenTtl.Ticks / 2));
            if (!renew && _token is { } cached && cached.Expires - _time.GetUtcNow() > margin)
                return cached.Value;
            var asked = _time.GetUtcNow();
            var ttl = ((int)_options.TokenTtl.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            var (status, body) = await SendAsync(HttpMethod.Put, TokenPath, null, cancellationToken, ttl).ConfigureAwait(false);
            if (status != HttpStatusCode.OK || string.IsNullOrWhiteSpace(body))
                throw Failure(status, TokenPath, body);
            // Expiry counted from when it was asked for: errs on the early side.
            _token = (body.Trim(), asked + _options.TokenTtl);
            return _token.Value.Value;
        }
        finally
        {
            _tokenGate.Release();
        }
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string? token,
        CancellationToken cancellationToken, string? ttlSeconds = null)
    {
        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        using var request = new HttpRequestMessage(method, path);
        if (token is not null) request.Headers.TryAddWithoutValidation(TokenHeader, token);
        if (ttlSeconds is not null) request.Headers.TryAddWithoutValidation(TtlHeader, ttlSeconds);
        try
        {
            using var response = await _http.SendAsync(request, linked.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
            return (response.StatusCode, body);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CloudException(CloudErrorKind.Transient, "Imds.Timeout",
                $"instance metadata service at {_options.Endpoint} did not answer {method} /{path} within {_options.RequestTimeout.TotalSeconds:0.###} s (is the PUT hop limit too low for this namespace?)",
                innerException: e);
        }
        catch (HttpRequestException e)
        {
            throw new CloudException(CloudErrorKind.Transient, "Imds.Unreachable",
                $"instance metadata service at {_options.Endpoint}: {e.Message}", innerException: e);
        }
    }

    private CloudException Failure(HttpStatusCode status, string path, string body)
    {
        var numeric = (int)status;
        var kind = status switch
        {
            HttpStatusCode.NotFound => CloudErrorKind.NotFound,
            // IMDS limits packets per second per ENI and may answer 429 when a node floods it.
            HttpStatusCode.TooManyRequests => CloudErrorKind.Throttled,
            _ when numeric >= 500 => CloudErrorKind.Transient,
            _ => CloudErrorKind.Invalid,
        };
        var detail = body.Length > 200 ? body[..200] : body;
        return new CloudException(kind, "Imds." + numeric.ToString(CultureInfo.InvariantCulture),
            $"instance metadata service at {_options.Endpoint} answered {numeric} to /{path}: {detail.Trim()}", status);
    }

    private static string[] Lines(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static PhysicalAddress ParseMac(string text) =>
        PhysicalAddress.TryParse(text, out var mac) && mac.GetAddressBytes().Length == 6
            ? mac
            : throw new CloudException(CloudErrorKind.Invalid, "Imds.BadValue", $"instance metadata gave '{text}' as a MAC");

    private static IPNetwork ParseCidr(string text) =>
        IPNetwork.TryParse(text, out var net)
            ? net
            : throw new CloudException(CloudErrorKind.Invalid, "Imds.BadValue", $"instance metadata gave '{text}' as a CIDR");

    /// <summary>Releases the HTTP client (and the handler it made).</summary>
    public void Dispose()
    {
        _http.Dispose();
        _tokenGate.Dispose();
    }
}
