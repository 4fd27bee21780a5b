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

    /// <summary>Maps the API on "/" of <paramref name="app"/>; requests signed with <paramref name="observer"/> meet no fault (<see cref="Ec2Api"/>).</summary>
    public static void Map(IEndpointRouteBuilder app, Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults, Ec2Credentials? observer = null)
    {
        var api = new Ec2Api(cloud, credentials, faults, observer: observer);
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
/// A Kestrel server with only the EC2 API on 127.0.0.1, for the API tests. The lab server
/// instead calls <see cref="Ec2Endpoint.Map"/> on listeners it made in its namespaces.
/// </summary>
public sealed class Ec2Server : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Ec2Server(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>Where it listens, e.g. http://127.0.0.1:41234/ (the SDK's ServiceURL).</summary>
    public Uri Url { get; }

    /// <summary>Starts serving on 127.0.0.1 at a free port; requests signed with <paramref name="observer"/> meet no fault.</summary>
    public static async Task<Ec2Server> StartOnLoopbackAsync(Ec2Cloud cloud, Ec2Credentials credentials, FaultPlan faults,
        CancellationToken cancellationToken = default, Ec2Credentials? observer = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(options => options.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        Ec2Endpoint.Map(app, cloud, credentials, faults, observer);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new Ec2Server(app, new Uri(address.EndsWith('/') ? address : address + "/"));
    }

    /// <summary>Stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
