using System.Net;
using System.Text;

namespace Fathom.Agent.Hosting;

/// <summary>
/// <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c> (Prometheus text format 0.0.4) over HTTP on a
/// loopback address (DESIGN §4). Anything else is 404. Serves one request at a time: scrapes and probes are rare and tiny.
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    private readonly HttpListener _http = new();
    private readonly Func<bool> _healthy;
    private readonly Func<string> _metrics;
    private readonly Func<string?> _notReady;
    private readonly Task _loop;

    private MetricsEndpoint(IPEndPoint endpoint, Func<bool> healthy, Func<string> metrics, Func<string?>? notReady)
    {
        EndPoint = endpoint;
        _healthy = healthy;
        _metrics = metrics;
        _notReady = notReady ?? (() => null);
        var host = endpoint.Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString();
        _http.Prefixes.Add($"http://{host}:{endpoint.Port}/");
        _http.Start();
        _loop = Task.Run(ServeAsync);
    }

    /// <summary>Where it listens.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Starts serving on <paramref name="endpoint"/>.</summary>
    /// <param name="endpoint">Where (loopback).</param>
    /// <param name="healthy">Liveness: false makes <c>/healthz</c> 503.</param>
    /// <param name="metrics">The Prometheus text.</param>
    /// <param name="notReady">Readiness: why the node should take no new pods now (<c>/readyz</c> 503 with it), or null when ready.</param>
    /// <exception cref="HttpListenerException">The address is taken or cannot be bound.</exception>
    public static MetricsEndpoint Start(IPEndPoint endpoint, Func<bool> healthy, Func<string> metrics, Func<string?>? notReady = null)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return new MetricsEndpoint(endpoint, healthy, metrics, notReady);
    }

    private async Task ServeAsync()
    {
        while (_http.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _http.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            try
            {
                var (status, type, body) = context.Request.Url?.AbsolutePath switch
                {
                    "/healthz" => _healthy() ? (200, "text/plain", "ok\n") : (503, "text/plain", "unhealthy\n"),
                    "/readyz" => _notReady() is { } why ? (503, "text/plain", $"not ready: {why}\n") : (200, "text/plain", "ok\n"),
                    "/metrics" => (200, "text/plain; version=0.0.4", _metrics()),
                    _ => (404, "text/plain", "not found: try /healthz, /readyz or /metrics\n"),
                };
                var bytes = Encoding.UTF8.GetBytes(body);
                context.Response.StatusCode = status;
                context.Response.ContentType = type;
                context.Response.ContentLength64 = bytes.Length;
                await context.Response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
                context.Response.Close();
            }
            catch (Exception e) when (e is HttpListenerException or IOException or ObjectDisposedException)
            {
                context.Response.Abort();
            }
        }
    }

    /// <summary>Stops serving.</summary>
    public async ValueTask DisposeAsync()
    {
        _http.Stop();
        try
        {
            _http.Close();
        }
        catch (HttpListenerException)
        {
            // The managed listener binds the port again to remove its prefixes once more on Close, and
            // fails when someone took the port since Stop freed it: there is nothing left to release.
        }
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
