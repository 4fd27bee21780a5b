using System.Net.Sockets;
using Fathom.Lab.Cri.V1;
using Grpc.Core;
using Grpc.Net.Client;

namespace Fathom.Lab.Cri;

/// <summary>What <see cref="CriClient.VersionAsync"/> answers: the runtime and the CRI version it speaks.</summary>
public sealed record CriVersion(string RuntimeName, string RuntimeVersion, string RuntimeApiVersion);

/// <summary>A pod as the kubelet describes it in RunPodSandbox: its Kubernetes identity and cgroup parent.</summary>
/// <param name="Namespace">metadata.namespace.</param>
/// <param name="Name">metadata.name.</param>
/// <param name="Uid">metadata.uid.</param>
/// <param name="CgroupParent">linux.cgroup_parent (cgroupfs syntax), or empty for the runtime's default.</param>
/// <param name="RuntimeHandler">The runtime handler (a RuntimeClass's handler), empty for the runtime's default.</param>
public sealed record CriPodSpec(string Namespace, string Name, string Uid, string CgroupParent, string RuntimeHandler = "");

/// <summary>PodSandboxStatus as the kubelet reads it: the state and the IPs the network plugin gave.</summary>
/// <param name="Id">The sandbox ID.</param>
/// <param name="Ready">SANDBOX_READY.</param>
/// <param name="Ip">network.ip (the first IP of the CNI result), empty when the sandbox has none.</param>
/// <param name="AdditionalIps">network.additional_ips.</param>
/// <param name="Namespace">metadata.namespace.</param>
/// <param name="Name">metadata.name.</param>
/// <param name="Uid">metadata.uid.</param>
public sealed record CriSandboxStatus(string Id, bool Ready, string Ip, IReadOnlyList<string> AdditionalIps, string Namespace, string Name, string Uid);

/// <summary>The CRI call failed: the gRPC status and the runtime's message.</summary>
public sealed class CriException(string call, StatusCode code, string detail, Exception inner)
    : Exception($"CRI {call}: {code}: {detail}", inner)
{
    /// <summary>The gRPC status code.</summary>
    public StatusCode Code { get; } = code;
}

/// <summary>
/// The kubelet's side of the Container Runtime Interface (k8s.io/cri-api runtime.v1), over the
/// runtime's Unix socket: the calls that give a pod its network (RunPodSandbox, where the runtime
/// runs the CNI plugins' ADD; PodSandboxStatus; StopPodSandbox and RemovePodSandbox, their DELs).
/// </summary>
public sealed class CriClient : IDisposable
{
    private readonly GrpcChannel _channel;
    private readonly RuntimeService.RuntimeServiceClient _runtime;
    private readonly TimeSpan _timeout;

    /// <param name="socketPath">The runtime's socket (containerd's <c>grpc.address</c>).</param>
    /// <param name="timeout">The deadline of each call (the kubelet's runtime-request-timeout is 2 minutes).</param>
    public CriClient(string socketPath, TimeSpan timeout)
    {
        ArgumentException.ThrowIfNullOrEmpty(socketPath);
        _timeout = timeout;
        var handler = new SocketsHttpHandler
        {
            // gRPC over h2c on a Unix socket: the URL's host is only a name for the :authority header.
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        _channel = GrpcChannel.ForAddress("http://localhost", new GrpcChannelOptions { HttpHandler = handler, DisposeHttpClient = true });
        _runtime = new RuntimeService.RuntimeServiceClient(_channel);
    }

    /// <summary>Version: which runtime answers, and that it speaks runtime.v1.</summary>
    public async Task<CriVersion> VersionAsync(CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync("Version", o => _runtime.VersionAsync(new VersionRequest { Version = "v1" }, o), cancellationToken);
        return new CriVersion(reply.RuntimeName, reply.RuntimeVersion, reply.RuntimeApiVersion);
    }

    /// <summary>RunPodSandbox: the runtime makes the pod's netns, runs the CNI ADD and starts the pause container; returns the sandbox ID.</summary>
    public async Task<string> RunPodSandboxAsync(CriPodSpec pod, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pod);
        var config = new PodSandboxConfig
        {
            Metadata = new PodSandboxMetadata { Name = pod.Name, Namespace = pod.Namespace, Uid = pod.Uid, Attempt = 0 },
            Hostname = pod.Name,
            Linux = new LinuxPodSandboxConfig { CgroupParent = pod.CgroupParent },
        };
        config.Labels["io.kubernetes.pod.name"] = pod.Name;
        config.Labels["io.kubernetes.pod.namespace"] = pod.Namespace;
        config.Labels["io.kubernetes.pod.uid"] = pod.Uid;
        var reply = await CallAsync("RunPodSandbox", o => _runtime.RunPodSandboxAsync(new RunPodSandboxRequest { Config = config, RuntimeHandler = pod.RuntimeHandler }, o), cancellationToken);
        return reply.PodSandboxId;
    }

    /// <summary>PodSandboxStatus of <paramref name="sandboxId"/>.</summary>
    public async Task<CriSandboxStatus> PodSandboxStatusAsync(string sandboxId, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync("PodSandboxStatus", o => _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId }, o), cancellationToken);
        var s = reply.Status;
        return new CriSandboxStatus(s.Id, s.State == PodSandboxState.SandboxReady, s.Network?.Ip ?? "",
            [.. (s.Network?.AdditionalIps ?? []).Select(i => i.Ip)], s.Metadata?.Namespace ?? "", s.Metadata?.Name ?? "", s.Metadata?.Uid ?? "");
    }

    /// <summary>StopPodSandbox: the pause container stops and the runtime runs the CNI DEL (with the netns and prevResult), then removes the netns.</summary>
    public Task StopPodSandboxAsync(string sandboxId, CancellationToken cancellationToken = default) =>
        CallAsync("StopPodSandbox", o => _runtime.StopPodSandboxAsync(new StopPodSandboxRequest { PodSandboxId = sandboxId }, o), cancellationToken);

    /// <summary>RemovePodSandbox: the runtime forgets the sandbox (containerd runs the CNI DEL again, without netns or prevResult).</summary>
    public Task RemovePodSandboxAsync(string sandboxId, CancellationToken cancellationToken = default) =>
        CallAsync("RemovePodSandbox", o => _runtime.RemovePodSandboxAsync(new RemovePodSandboxRequest { PodSandboxId = sandboxId }, o), cancellationToken);

    private async Task<T> CallAsync<T>(string call, Func<CallOptions, AsyncUnaryCall<T>> invoke, CancellationToken cancellationToken)
    {
        try
        {
            return await invoke(new CallOptions(deadline: DateTime.UtcNow + _timeout, cancellationToken: cancellationToken));
        }
        catch (RpcException e)
        {
            throw new CriException(call, e.StatusCode, e.Status.Detail, e);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _channel.Dispose();
}
