using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace Fathom.Datastore.Etcd;

/// <summary>
/// etcd v3 over its JSON gRPC gateway (<c>/v3/kv/range</c>, <c>/v3/kv/txn</c>, <c>/v3/lease/*</c>,
/// <c>/v3/watch</c>), which every etcd since 3.4 serves on its client port: plain HttpClient and
/// source-generated JSON, so nothing here trips the trimmer (docs/datastore.md says why not gRPC).
/// Each call sticks to one member and moves to the next when it is unreachable or answers that it
/// cannot decide (no leader, timeout), until <see cref="RequestTimeout"/> has passed.
/// </summary>
internal sealed class EtcdGatewayClient : IDisposable
{
    // gRPC status codes (grpc/codes) that mean "another member, or later, may do it".
    private const int Unavailable = 14, DeadlineExceeded = 4, ResourceExhausted = 8;

    private readonly HttpClient _http;
    private readonly Uri[] _endpoints;
    private int _current;

    public EtcdGatewayClient(IReadOnlyList<Uri> endpoints, TimeSpan requestTimeout)
    {
        if (endpoints.Count == 0) throw new ArgumentException("etcd needs at least one endpoint", nameof(endpoints));
        _endpoints = [.. endpoints];
        RequestTimeout = requestTimeout;
        _http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(1),
            // A member restarted at the same address: don't keep a dead connection for long.
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // bounded per call, and a watch has no bound
        };
    }

    /// <summary>The bound on one call, across every member tried.</summary>
    public TimeSpan RequestTimeout { get; }

    /// <summary>The members, as an error message names them.</summary>
    public string Describe() => "etcd (" + string.Join(", ", _endpoints.Select(e => e.GetLeftPart(UriPartial.Authority))) + ")";

    public Task<RangeResponse> RangeAsync(RangeRequest request, CancellationToken ct) =>
        CallAsync("kv/range", request, EtcdJson.Default.RangeRequest, EtcdJson.Default.RangeResponse, ct);

    public Task<TxnResponse> TxnAsync(TxnRequest request, CancellationToken ct) =>
        CallAsync("kv/txn", request, EtcdJson.Default.TxnRequest, EtcdJson.Default.TxnResponse, ct);

    public Task<LeaseGrantResponse> GrantAsync(long ttlSeconds, CancellationToken ct) =>
        CallAsync("lease/grant", new LeaseGrantRequest { Ttl = ttlSeconds }, EtcdJson.Default.LeaseGrantRequest, EtcdJson.Default.LeaseGrantResponse, ct);

    /// <summary>One keep-alive: the lease's new TTL in seconds, or 0 when it has expired (or never was).</summary>
    public async Task<long> KeepAliveOnceAsync(long leaseId, CancellationToken ct)
    {
        // LeaseKeepAlive is a bidirectional stream; through the gateway a body of one request
        // gives one response and the stream ends.
        var reply = await CallAsync("lease/keepalive", new LeaseIdRequest { Id = leaseId }, EtcdJson.Default.LeaseIdRequest, EtcdJson.Default.LeaseKeepAliveResult, ct).ConfigureAwait(false);
        if (reply.Error is { } error) throw new EtcdRequestException(Describe(), "lease/keepalive", error);
        return reply.Result?.Ttl ?? 0;
    }

    /// <summary>Revokes a lease (its keys go with it); a lease already gone is no error.</summary>
    public async Task RevokeAsync(long leaseId, CancellationToken ct)
    {
        try
        {
            await CallAsync("lease/revoke", new LeaseIdRequest { Id = leaseId }, EtcdJson.Default.LeaseIdRequest, EtcdJson.Default.LeaseGrantResponse, ct).ConfigureAwait(false);
        }
        catch (EtcdRequestException e) when (e.Code == 5) // NotFound: expired already
        {
        }
    }

    /// <summary>
    /// One watch stream on one member, from the request's start revision; ends or throws when the
    /// connection does, and the caller resynchronises. Sent with etcd's "hasleader" metadata so that
    /// a member cut off from the leader cancels the stream rather than going silent
    /// (etcdserver/api/v3rpc/watch.go, rpctypes.MetadataRequireLeaderKey).
    /// </summary>
    public async IAsyncEnumerable<WatchResponse> WatchAsync(WatchCreateRequest create, [EnumeratorCancellation] CancellationToken ct)
    {
        var endpoint = _endpoints[(uint)Volatile.Read(ref _current) % _endpoints.Length];
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(endpoint, "v3/watch"))
        {
            Content = JsonContent(new WatchRequest { Create = create }, EtcdJson.Default.WatchRequest),
        };
        request.Headers.TryAddWithoutValidation("Grpc-Metadata-hasleader", "true");
        HttpResponseMessage response;
        using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            connect.CancelAfter(RequestTimeout);
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, connect.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !ct.IsCancellationRequested))
            {
                NextEndpoint(endpoint);
                throw new DatastoreUnavailableException($"{Describe()}: watch on {endpoint.GetLeftPart(UriPartial.Authority)} failed: {e.Message}", e);
            }
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                NextEndpoint(endpoint);
                throw new DatastoreUnavailableException($"{Describe()}: watch on {endpoint.GetLeftPart(UriPartial.Authority)} answered {(int)response.StatusCode}");
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0) continue;
                var message = JsonSerializer.Deserialize(line, EtcdJson.Default.WatchStreamMessage);
                if (message?.Error is { } error)
                {
                    NextEndpoint(endpoint);
                    throw new EtcdRequestException(Describe(), "watch", error);
                }
                if (message?.Result is { } result) yield return result;
            }
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<TResponse> CallAsync<TRequest, TResponse>(
        string path, TRequest body, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(RequestTimeout);
        // An attempt gets half the bound, so that a member that hangs (no quorum behind it) still
        // leaves time to ask another.
        var attemptBound = TimeSpan.FromTicks(Math.Max(RequestTimeout.Ticks / 2, TimeSpan.FromMilliseconds(500).Ticks));
        string? lastError = null;
        var sawNoQuorum = false;
        var tried = 0;
        while (true)
        {
            var endpoint = _endpoints[(uint)Volatile.Read(ref _current) % _endpoints.Length];
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
            attempt.CancelAfter(attemptBound);
            try
            {
                using var content = JsonContent(body, requestType);
                using var response = await _http.PostAsync(new Uri(endpoint, "v3/" + path), content, attempt.Token).ConfigureAwait(false);
                var bytes = await response.Content.ReadAsByteArrayAsync(attempt.Token).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                    return JsonSerializer.Deserialize(bytes, responseType)
                        ?? throw new EtcdRequestException(Describe(), path, new GatewayError { Code = 13, Message = "empty reply" });
                var error = TryParseError(bytes) ?? new GatewayError { Code = (int)response.StatusCode, Message = $"HTTP {(int)response.StatusCode}" };
                if (!IsRetryable(error)) throw new EtcdRequestException(Describe(), path, error);
                sawNoQuorum = true;
                lastError = $"{endpoint.GetLeftPart(UriPartial.Authority)}: {error.Message ?? error.Error}";
            }
            catch (HttpRequestException e)
            {
                lastError = $"{endpoint.GetLeftPart(UriPartial.Authority)}: {e.Message}";
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                // The member took the connection but did not answer: it is cut off from a quorum
                // (a linearizable request waits for a leader that does not come).
                sawNoQuorum = true;
                lastError = $"{endpoint.GetLeftPart(UriPartial.Authority)}: no answer within {attemptBound.TotalSeconds:0.#} s";
            }
            NextEndpoint(endpoint);
            tried++;
            if (deadline.IsCancellationRequested)
                throw new DatastoreUnavailableException(
                    $"{Describe()} did not complete {path} within {RequestTimeout.TotalSeconds:0.#} s: "
                    + (sawNoQuorum ? "no quorum (a majority of members is down or cut off)" : "no member reachable")
                    + $"; last error {lastError}");
            // Every member failed fast (refused): pause rather than spin until the deadline.
            if (tried % _endpoints.Length == 0)
            {
                try
                {
                    await Task.Delay(100, deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }
            }
        }
    }

    private void NextEndpoint(Uri failed)
    {
        var index = Array.IndexOf(_endpoints, failed);
        Interlocked.CompareExchange(ref _current, (index + 1) % _endpoints.Length, index);
    }

    private static bool IsRetryable(GatewayError error)
    {
        if (error.Code is Unavailable or DeadlineExceeded or ResourceExhausted) return true;
        var text = error.Message ?? error.Error ?? "";
        return text.Contains("no leader", StringComparison.Ordinal) || text.Contains("timed out", StringComparison.Ordinal)
            || text.Contains("leader changed", StringComparison.Ordinal) || text.Contains("not capable", StringComparison.Ordinal);
    }

    private static GatewayError? TryParseError(byte[] bytes)
    {
        try
        {
            return JsonSerializer.Deserialize(bytes, EtcdJson.Default.GatewayError);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static ByteArrayContent JsonContent<T>(T body, JsonTypeInfo<T> type)
    {
        var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, type));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }
}

/// <summary>etcd refused a request for a reason another member would give too (a bad request, a missing lease).</summary>
internal sealed class EtcdRequestException(string datastore, string operation, GatewayError error)
    : Exception($"{datastore} refused {operation}: {error.Message ?? error.Error} (gRPC code {error.Code})")
{
    public int Code { get; } = error.Code;
}
