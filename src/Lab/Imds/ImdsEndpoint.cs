using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Fathom.Lab.Imds;

/// <summary>HTTP wiring of <see cref="InstanceMetadataService"/>: every request, any path, as text/plain.</summary>
internal static class ImdsEndpoint
{
    public static void Map(IApplicationBuilder app, InstanceMetadataService service)
    {
        app.Run(async context =>
        {
            var request = context.Request;
            var caller = context.Connection.RemoteIpAddress ?? IPAddress.None;
            if (caller.IsIPv4MappedToIPv6) caller = caller.MapToIPv4();
            var answer = service.Handle(request.Method, request.Path.Value ?? "/", caller,
                request.Headers[InstanceMetadataService.TokenHeader].FirstOrDefault(),
                request.Headers[InstanceMetadataService.TtlHeader].FirstOrDefault());
            context.Response.StatusCode = answer.Status;
            context.Response.ContentType = "text/plain";
            if (answer.Status == 200 && request.Method == "PUT")
                context.Response.Headers[InstanceMetadataService.TtlHeader] = request.Headers[InstanceMetadataService.TtlHeader];
            if (request.Method != "HEAD")
                await context.Response.WriteAsync(answer.Body, context.RequestAborted);
        });
    }
}
