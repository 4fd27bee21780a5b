using System.Net;
using System.Net.Sockets;
using System.Text;
using Fathom.Netlink;

namespace Fathom.Datapath.Tests;

/// <summary>
/// The tc BPF pod path with kube-proxy's Services (docs/modes.md, "The tc BPF pod path"): a client
/// pod's connection to a ClusterIP is DNATed by an iptables rule in its node's nat PREROUTING, as
/// kube-proxy's are, so the backend's reply must be un-DNATed by that node's conntrack. Without the
/// programs' conntrack lookup <c>to_pod</c> (backend on another node) or <c>from_pod</c> (backend on
/// the same node) hands the reply to the client with the backend's address and the connection fails;
/// with it the reply takes the kernel's path, and plain pod-to-pod TCP is still redirected.
/// </summary>
public sealed class PodRedirectServiceTests
{
    private static readonly IpPrefix Cluster = IpPrefix.Parse("10.251.0.0/16");
    private const string ServiceIp = "10.96.7.10";
    private const int ServicePort = 80, BackendPort = 8080;

    [PrivilegedFact("ip", "iptables", "nstat")]
    public void A_services_reply_takes_the_kernels_path_and_pod_to_pod_tcp_is_still_redirected()
    {
        Privileged.Require("ip", "iptables", "nstat");
        using var fabric = new TwoNodeFabric("ps");
        for (var i = 0; i < 2; i++) Wire(fabric.Nodes[i], fabric.Pods[i], i, $"fps{i}", $"10.251.{i + 1}.5", TwoNodeFabric.NodeIps[1 - i]);
        using var local = TestNetns.Create("ps"); // a second pod on node 0, the same-node backend
        Wire(fabric.Nodes[0], local, 0, "fpsl", "10.251.1.6", gateway: null);
        using var client = Netns.Open(fabric.Pods[0].Path);

        Dnat(fabric.Nodes[0].Name, ServicePort, "10.251.2.5");
        Dnat(fabric.Nodes[0].Name, ServicePort + 1, "10.251.1.6");

        // Pod to pod, no NAT, with node 0's nat table live: looked up, not found, redirected — neither
        // node forwards a packet. First, so that no late packet of a Service connection (its FIN, forwarded
        // by the kernel as it must be) lands between the two readings.
        var forwarded = Forwarded(fabric.Nodes[0].Name) + Forwarded(fabric.Nodes[1].Name);
        using (var backend = Listen(fabric.Pods[1].Path))
            Assert.Equal("from 10.251.2.5", Exchange(client, "10.251.2.5", BackendPort, backend));
        using (var backend = Listen(local.Path))
            Assert.Equal("from 10.251.1.6", Exchange(client, "10.251.1.6", BackendPort, backend));
        Assert.Equal(forwarded, Forwarded(fabric.Nodes[0].Name) + Forwarded(fabric.Nodes[1].Name));

        // Service → the backend pod on node 1: its reply arrives on node 0's eth0, to_pod's side.
        using (var backend = Listen(fabric.Pods[1].Path))
            Assert.Equal("from 10.251.2.5", Exchange(client, ServiceIp, ServicePort, backend));
        // Service → the backend pod on node 0: its reply leaves its veth into from_pod, bound for the client pod.
        using (var backend = Listen(local.Path))
            Assert.Equal("from 10.251.1.6", Exchange(client, ServiceIp, ServicePort + 1, backend));
    }

    /// <summary>A pod on node <paramref name="node"/>: its veth, host-gw's route to the other node's subnet, both programs.</summary>
    private static void Wire(TestNetns nodeNetns, TestNetns podNetns, int node, string veth, string ip, string? gateway)
    {
        using var nodeNs = Netns.Open(nodeNetns.Path);
        using var host = NetlinkHandle.OpenIn(nodeNs);
        using var podNs = Netns.Open(podNetns.Path);
        using var pod = NetlinkHandle.OpenIn(podNs);
        NodeVeth.Create(host, podNs, pod, new NodeVethSpec(veth, "eth0", IPAddress.Parse(ip), [IpPrefix.Parse("0.0.0.0/0")]));
        if (gateway is not null)
        {
            Shell.IpIn(nodeNetns.Name, "route", "add", $"10.251.{2 - node}.0/24", "via", gateway);
            PodRedirect.AttachUplink(host, host.GetLink("eth0").Index, IpPrefix.Parse($"10.251.{node + 1}.0/24"));
        }
        PodRedirect.AttachPod(host, host.GetLink(veth).Index, Cluster);
    }

    /// <summary>kube-proxy's rule for one ClusterIP port, in the client node's nat PREROUTING (its KUBE-SERVICES chain, flattened).</summary>
    private static void Dnat(string node, int servicePort, string backend) =>
        Shell.Exec(node, "iptables", "-t", "nat", "-A", "PREROUTING", "-d", ServiceIp, "-p", "tcp", "--dport", servicePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-j", "DNAT", "--to-destination", $"{backend}:{BackendPort}").EnsureSuccess("iptables DNAT");

    /// <summary>A listener on the backend port inside a pod: the socket stays in the namespace it was made in.</summary>
    private static Socket Listen(string podPath)
    {
        using var ns = Netns.Open(podPath);
        var socket = Netns.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        socket.Bind(new IPEndPoint(IPAddress.Any, BackendPort));
        socket.Listen();
        return socket;
    }

    /// <summary>Connects from the client pod, sends a line, and returns the backend's answer ("from" and its address as it saw itself).</summary>
    private static string Exchange(NetnsHandle client, string ip, int port, Socket backend)
    {
        var accept = backend.AcceptAsync();
        using var socket = Netns.Run(client, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            socket.ConnectAsync(IPAddress.Parse(ip), port, timeout.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"pod → {ip}:{port}: {e.Message} (a reply handed to the client pod without its un-DNAT is reset or dropped)");
        }
        using var server = accept.WaitAsync(timeout.Token).GetAwaiter().GetResult();
        server.Send(Encoding.ASCII.GetBytes("from " + ((IPEndPoint)server.LocalEndPoint!).Address));
        server.Shutdown(SocketShutdown.Send);
        var buffer = new byte[64];
        var received = 0;
        for (int n; (n = socket.ReceiveAsync(buffer.AsMemory(received), SocketFlags.None, timeout.Token).AsTask().GetAwaiter().GetResult()) > 0;) received += n;
        Assert.Equal(new IPEndPoint(IPAddress.Parse(ip), port), socket.RemoteEndPoint);
        return Encoding.ASCII.GetString(buffer, 0, received);
    }

    private static long Forwarded(string node) =>
        long.Parse(Shell.Exec(node, "nstat", "-az", "IpForwDatagrams").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Single(l => l.StartsWith("IpForwDatagrams", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
}
