using System.Net.Sockets;
using System.Text.Json;
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

/// <summary>A sandbox as ListPodSandbox reports it.</summary>
/// <param name="Id">The sandbox ID.</param>
/// <param name="Ready">SANDBOX_READY; a sandbox whose start failed half-way (containerd keeps it when its
/// clean-up, e.g. the CNI DEL, failed too) or that was stopped is not.</param>
/// <param name="Namespace">metadata.namespace.</param>
/// <param name="Name">metadata.name.</param>
/// <param name="Uid">metadata.uid.</param>
/// <param name="RuntimeHandler">The runtime handler it runs with.</param>
public sealed record CriSandbox(string Id, bool Ready, string Namespace, string Name, string Uid, string RuntimeHandler);

/// <summary>ListPodSandbox's filter; its parts are ANDed, and none set matches every sandbox.</summary>
/// <param name="Id">Only the sandbox with this ID.</param>
/// <param name="Ready">Only ready (true) or not-ready (false) sandboxes.</param>
/// <param name="Labels">Only sandboxes carrying all these labels.</param>
public sealed record CriSandboxFilter(string? Id = null, bool? Ready = null, IReadOnlyDictionary<string, string>? Labels = null);

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
/// runs the CNI plugins' ADD; PodSandboxStatus; StopPodSandbox and RemovePodSandbox, their DELs;
/// ListPodSandbox, with which the kubelet finds the sandboxes it still has to stop and remove).
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

    /// <summary>ListPodSandbox: every sandbox the runtime knows that matches <paramref name="filter"/> (all when null).</summary>
    public async Task<IReadOnlyList<CriSandbox>> ListPodSandboxAsync(CriSandboxFilter? filter = null, CancellationToken cancellationToken = default)
    {
        var request = new ListPodSandboxRequest();
        if (filter is not null)
        {
            request.Filter = new PodSandboxFilter { Id = filter.Id ?? "" };
            if (filter.Ready is { } ready)
                request.Filter.State = new PodSandboxStateValue { State = ready ? PodSandboxState.SandboxReady : PodSandboxState.SandboxNotready };
            foreach (var (key, value) in filter.Labels ?? new Dictionary<string, string>())
                request.Filter.LabelSelector[key] = value;
        }
        var reply = await CallAsync("ListPodSandbox", o => _runtime.ListPodSandboxAsync(request, o), cancellationToken);
        return [.. reply.Items.Select(s => new CriSandbox(s.Id, s.State == PodSandboxState.SandboxReady,
            s.Metadata?.Namespace ?? "", s.Metadata?.Name ?? "", s.Metadata?.Uid ?? "", s.RuntimeHandler))];
    }

    /// <summary>
    /// The path of the sandbox's network namespace (e.g. <c>/var/run/netns/cni-…</c>), from the verbose
    /// PodSandboxStatus; null when the runtime reports none (a host-network sandbox, or a runtime whose
    /// verbose info has no OCI spec).
    /// </summary>
    public async Task<string?> PodSandboxNetnsAsync(string sandboxId, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync("PodSandboxStatus", o => _runtime.PodSandboxStatusAsync(new PodSandboxStatusRequest { PodSandboxId = sandboxId, Verbose = true }, o), cancellationToken);
        return reply.Info.TryGetValue("info", out var info) ? NetnsPathOf(info) : null;
    }

    /// <summary>
    /// The network namespace's path in containerd's verbose sandbox info: <c>runtimeSpec.linux.namespaces</c>,
    /// the entry of type <c>network</c> (containerd pkg/cri/server/sandbox_status.go, SandboxInfo; the OCI
    /// runtime spec, config-linux.md "Namespaces"). Null when the info has none; malformed JSON throws <see cref="JsonException"/>.
    /// </summary>
    internal static string? NetnsPathOf(string info)
    {
        using var document = JsonDocument.Parse(info);
        if (!document.RootElement.TryGetProperty("runtimeSpec", out var spec) || spec.ValueKind != JsonValueKind.Object ||
            !spec.TryGetProperty("linux", out var linux) || linux.ValueKind != JsonValueKind.Object ||
            !linux.TryGetProperty("namespaces", out var namespaces) || namespaces.ValueKind != JsonValueKind.Array)
            return null;
        foreach (var ns in namespaces.EnumerateArray())
        {
            if (ns.ValueKind == JsonValueKind.Object &&
                ns.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "network" &&
                ns.TryGetProperty("path", out var path) && path.ValueKind == JsonValueKind.String && path.GetString() is { Length: > 0 } p)
                return p;
        }
        return null;
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
