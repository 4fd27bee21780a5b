using System.Net;
using System.Net.Sockets;
using System.Text;
using Fathom.Lab.Datastore;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>The lab's container runtime in <c>lab status</c> (issue 11): how pods are made on its nodes.</summary>
/// <param name="Kind"><c>cni</c> (no runtime: <c>lab pod add</c> runs the plugin itself) or <c>containerd</c>.</param>
/// <param name="Containerd">With containerd: each node's, its pid when it runs (null when not) and its CRI socket.</param>
public sealed record LabRuntimeStatus(string Kind, IReadOnlyList<LabContainerdStatus> Containerd);

/// <summary>One node's containerd.</summary>
/// <param name="Node">The node.</param>
/// <param name="Pid">Its pid, or null when it does not run (the server restarts it within a second).</param>
/// <param name="Socket">Its CRI socket.</param>
public sealed record LabContainerdStatus(string Node, int? Pid, string Socket);

/// <summary>Where the lab's agents keep the host-gw and overlay leases (issue 10), in <c>lab status</c>.</summary>
/// <param name="Kind"><c>embedded</c> or <c>etcd</c>.</param>
/// <param name="Directory">The embedded store's directory (one per mode below it).</param>
/// <param name="Members">The etcd members: pid, whether it runs, whether it answers healthy.</param>
public sealed record LabDatastoreStatus(string Kind, string? Directory, IReadOnlyList<LabEtcdMemberStatus> Members);

/// <summary>One etcd member as <c>lab status</c> finds it.</summary>
/// <param name="Name">etcd1…</param>
/// <param name="Pid">The pid the server started it with (a member restarted by hand has another).</param>
/// <param name="Running">Whether that pid is an etcd now.</param>
/// <param name="Healthy">Whether its client URL answers <c>/health</c> with <c>"health":"true"</c> (asked from the VPC netns; a member without quorum is not healthy).</param>
/// <param name="ClientUrl">Where the agents reach it.</param>
/// <param name="Error">Why it is not healthy, when it is not.</param>
public sealed record LabEtcdMemberStatus(string Name, int Pid, bool Running, bool Healthy, string ClientUrl, string? Error = null);

/// <summary>Reads the runtime and the datastore of a lab for <c>lab status</c>, from lab.json and the machine.</summary>
internal static class LabStatusDetails
{
    /// <summary>How long one etcd member may take to answer /health.</summary>
    private static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(1);

    public static LabRuntimeStatus Runtime(LabLayout layout, LabState state) =>
        state.Options.Runtime == LabContainerd.Runtime
            ? new LabRuntimeStatus(LabContainerd.Runtime,
                [.. state.Nodes.Select(n => new LabContainerdStatus(n.Name, LabContainerd.For(layout, n).RunningPid(), LabContainerd.Socket(layout, n.Name)))])
            : new LabRuntimeStatus("cni", []);

    public static LabDatastoreStatus Datastore(LabLayout layout, LabState state)
    {
        if (state.Options.Datastore != "etcd")
            return new LabDatastoreStatus(state.Options.Datastore, Path.Combine(layout.StateDirectory, "datastore"), []);
        NetnsHandle? vpc = null;
        try
        {
            if (state.VpcNetns.Length > 0 && Netns.Exists(state.VpcNetns)) vpc = Netns.Open(state.VpcNetns);
            return new LabDatastoreStatus("etcd", null, [.. state.Etcd.Select(m => Member(vpc, m))]);
        }
        finally
        {
            vpc?.Dispose();
        }
    }

    private static LabEtcdMemberStatus Member(NetnsHandle? vpc, LabEtcdMember member)
    {
        var running = member.Pid > 0 && Signal.IsAlive(member.Pid) && Signal.CommandLine(member.Pid).FirstOrDefault()?.EndsWith("etcd", StringComparison.Ordinal) == true;
        if (vpc is null) return new LabEtcdMemberStatus(member.Name, member.Pid, running, false, member.ClientUrl, "the VPC netns is gone");
        try
        {
            var healthy = AnswersHealthy(vpc, new Uri(member.ClientUrl));
            return new LabEtcdMemberStatus(member.Name, member.Pid, running, healthy, member.ClientUrl, healthy ? null : "/health is not true (no quorum?)");
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException or NetlinkException)
        {
            return new LabEtcdMemberStatus(member.Name, member.Pid, running, false, member.ClientUrl, e.Message);
        }
    }

    /// <summary>
    /// GET /health over a socket made inside the VPC netns (the members listen on the router's address
    /// there, which the host does not route to): HTTP/1.0, so the member closes when it has answered.
    /// </summary>
    private static bool AnswersHealthy(NetnsHandle vpc, Uri client)
    {
        using var socket = Netns.Run(vpc, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        socket.ReceiveTimeout = socket.SendTimeout = (int)HealthTimeout.TotalMilliseconds;
        using (var bound = new CancellationTokenSource(HealthTimeout))
        {
            try
            {
                socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(client.Host), client.Port), bound.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no answer from {client} within {HealthTimeout.TotalSeconds:0} s");
            }
        }
        socket.Send(Encoding.ASCII.GetBytes($"GET /health HTTP/1.0\r\nHost: {client.Authority}\r\n\r\n"));
        var response = new StringBuilder();
        var buffer = new byte[1024];
        int read;
        while (response.Length < 8192 && (read = socket.Receive(buffer)) > 0)
            response.Append(Encoding.ASCII.GetString(buffer, 0, read));
        return response.ToString().Contains("\"health\":\"true\"", StringComparison.Ordinal);
    }
}
