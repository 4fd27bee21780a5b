using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Fathom.Lab.Ec2;

/// <summary>Hosts the EC2 Query API on ASP.NET Core: POST (form body) and GET (query string) on "/".</summary>
public static class Ec2Endpoint
{
    /// <summary>EC2 Query requests are small; a larger body is refused before it is buffered.</summary>
    private const int MaxBodyBytes = 1 << 20;

    /// <summary>Maps the API on "/" of <paramref name="app"/>.</summary>
    public static void Map(IEndpointRouteBuilder app, Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults)
    {
        var api = new Ec2Api(cloud, credentials, faults);
        app.MapMethods("/", ["GET", "POST"], context => ServeAsync(context, api));
    }

    /// <summary>Adapts one HTTP exchange to <see cref="Ec2Api.HandleAsync"/>.</summary>
    public static async Task ServeAsync(HttpContext context, Ec2Api api)
    {
        var request = context.Request;
        if (request.ContentLength > MaxBodyBytes)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            return;
        }
        using var body = new MemoryStream();
        var buffer = new byte[16 * 1024];
        int read;
        // Content-Length may be absent (chunked): stop reading at the cap either way.
        while ((read = await request.Body.ReadAsync(buffer, context.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > MaxBodyBytes)
            {
                context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
                return;
            }
            body.Write(buffer, 0, read);
        }

        // SigV4 signs the path and query exactly as sent: take them from the raw request target,
        // not from the decoded Path/QueryString.
        var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? request.Path + request.QueryString;
        var q = target.IndexOf('?');
        var rawPath = q < 0 ? target : target[..q];
        var rawQuery = q < 0 ? "" : target[(q + 1)..];
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in request.Headers)
            headers[name.ToLowerInvariant()] = string.Join(',', values.OfType<string>());

        var response = await api.HandleAsync(new Ec2HttpRequest(request.Method, rawPath, rawQuery, headers, body.ToArray()),
            context.RequestAborted).ConfigureAwait(false);
        context.Response.StatusCode = response.StatusCode;
        context.Response.ContentType = Ec2HttpResponse.ContentType;
        context.Response.ContentLength = response.Body.Length;
        await context.Response.Body.WriteAsync(response.Body, context.RequestAborted).ConfigureAwait(false);
    }
}

/// <summary>
/// A Kestrel server with only the EC2 API, for tests and tools. The lab's own hosts may instead
/// call <see cref="Ec2Endpoint.Map"/> on listeners of their own.
/// </summary>
public sealed class Ec2Server : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Ec2Server(WebApplication app, IReadOnlyList<Uri> urls)
    {
        _app = app;
        Urls = urls;
    }

    /// <summary>The URLs it listens on (with the real port when port 0 was asked).</summary>
    public IReadOnlyList<Uri> Urls { get; }

    /// <summary>The first URL, e.g. http://127.0.0.1:41234/ (the SDK's ServiceURL).</summary>
    public Uri Url => Urls[0];

    /// <summary>Starts serving the API on each endpoint (port 0 picks a free port).</summary>
    public static async Task<Ec2Server> StartAsync(Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults,
        IReadOnlyList<IPEndPoint> endpoints, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options =>
        {
            foreach (var endpoint in endpoints) options.Listen(endpoint);
        });
        var app = builder.Build();
        Ec2Endpoint.Map(app, cloud, credentials, faults);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        return new Ec2Server(app, [.. addresses.Select(a => new Uri(a.EndsWith('/') ? a : a + "/"))]);
    }

    /// <summary>Starts serving on 127.0.0.1 at a free port.</summary>
    public static Task<Ec2Server> StartOnLoopbackAsync(Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults,
        CancellationToken cancellationToken = default) =>
        StartAsync(cloud, credentials, faults, [new IPEndPoint(IPAddress.Loopback, 0)], cancellationToken);

    /// <summary>Stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
