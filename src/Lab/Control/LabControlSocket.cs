using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Fathom.Lab.Ec2;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Fathom.Lab.Control;

/// <summary>
/// The lab server's own control socket, <c>&lt;state&gt;/control.sock</c> (0600 in the lab's 0700 state
/// directory: root only): what changes a running lab's topology goes through the one process that holds
/// its EC2 state and supervises its agents. <c>POST /nodes?name=N[&amp;type=T]</c> adds a node and answers
/// it as JSON; <c>DELETE /nodes/N</c> removes one. 400 for bad input, 409 when the lab refuses, with the
/// reason as text.
/// </summary>
public static class LabControlSocket
{
    /// <summary>Where the server listens.</summary>
    public static string PathOf(LabLayout layout) => Path.Combine(layout.StateDirectory, "control.sock");

    /// <summary>A node as <c>lab node add --json</c> prints it (lab.json's fields, camelCase).</summary>
    public static string NodeJson(LabNode node) => JsonSerializer.Serialize(node, LabJsonContext.Default.LabNode);

    /// <summary>Maps the node routes on <paramref name="app"/>.</summary>
    internal static void Map(IEndpointRouteBuilder app, LabNodes nodes)
    {
        app.MapPost("/nodes", context => ServeAsync(context, async token =>
        {
            var name = context.Request.Query["name"].ToString();
            var type = context.Request.Query["type"].ToString();
            var node = await nodes.AddAsync(name, type.Length == 0 ? null : type, token);
            return NodeJson(node);
        }));
        app.MapDelete("/nodes/{name}", context => ServeAsync(context, async token =>
        {
            await nodes.RemoveAsync(context.Request.RouteValues["name"]?.ToString() ?? "", token);
            return "";
        }));
    }

    private static async Task ServeAsync(HttpContext context, Func<CancellationToken, Task<string>> act)
    {
        int status;
        string body;
        try
        {
            (status, body) = (StatusCodes.Status200OK, await act(context.RequestAborted));
        }
        catch (ArgumentException e)
        {
            (status, body) = (StatusCodes.Status400BadRequest, e.Message);
        }
        catch (Exception e) when (e is InvalidOperationException or Ec2Exception or IOException or Netlink.NetlinkException)
        {
            (status, body) = (StatusCodes.Status409Conflict, e.Message);
        }
        context.Response.StatusCode = status;
        context.Response.ContentType = status == StatusCodes.Status200OK && body.Length > 0 ? "application/json" : "text/plain";
        await context.Response.WriteAsync(body, context.RequestAborted);
    }

    /// <summary><c>lab node add</c>: asks the lab's server for a new node; returns it once its agent listens.</summary>
    /// <exception cref="ArgumentException">The server refused the name or type (the message is its reason).</exception>
    /// <exception cref="InvalidOperationException">The lab is not up, or the node could not be made.</exception>
    public static async Task<LabNode> AddNodeAsync(LabLayout layout, string name, string? instanceType, CancellationToken cancellationToken = default)
    {
        var query = $"/nodes?name={Uri.EscapeDataString(name)}{(instanceType is null ? "" : "&type=" + Uri.EscapeDataString(instanceType))}";
        var body = await SendAsync(layout, HttpMethod.Post, query, cancellationToken);
        return JsonSerializer.Deserialize(body, LabJsonContext.Default.LabNode) ?? throw new InvalidOperationException("the lab server answered no node");
    }

    /// <summary><c>lab node rm</c>: asks the lab's server to remove node <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No such node.</exception>
    /// <exception cref="InvalidOperationException">The lab is not up, or refused (pods on the node).</exception>
    public static Task RemoveNodeAsync(LabLayout layout, string name, CancellationToken cancellationToken = default) =>
        SendAsync(layout, HttpMethod.Delete, "/nodes/" + Uri.EscapeDataString(name), cancellationToken);

    private static async Task<string> SendAsync(LabLayout layout, HttpMethod method, string target, CancellationToken cancellationToken)
    {
        var socketPath = PathOf(layout);
        using var http = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        {
            // A node is up once its agent listens: up to the agent's start bound, and a launch.
            Timeout = TimeSpan.FromSeconds(120),
        };
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(new HttpRequestMessage(method, "http://lab" + target), cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new InvalidOperationException($"lab '{layout.Prefix}' does not answer on {socketPath} ({e.Message}): is it up? (fathomctl lab status)", e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            return response.StatusCode switch
            {
                HttpStatusCode.OK => body,
                HttpStatusCode.BadRequest => throw new ArgumentException(body),
                _ => throw new InvalidOperationException(body.Length > 0 ? body : $"the lab server answered {(int)response.StatusCode}"),
            };
        }
    }
}
