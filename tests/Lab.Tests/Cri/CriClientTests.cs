using System.Text.Json;
using Fathom.Lab.Cri;

namespace Fathom.Lab.Tests.Cri;

/// <summary>The parts of the CRI client that are pure: reading containerd's verbose sandbox info.</summary>
public sealed class CriClientTests
{
    // containerd 1.6's verbose PodSandboxStatus "info" (pkg/cri/server/sandbox_status.go, SandboxInfo),
    // trimmed: the OCI spec's namespaces are where the sandbox's netns path is.
    private const string ContainerdInfo = """
        {"pid":4242,"processStatus":"running","netNamespaceClosed":false,"image":"registry.k8s.io/pause:3.6",
         "runtimeHandler":"underlay","runtimeType":"io.containerd.runc.v2",
         "config":{"metadata":{"name":"web-0","uid":"u","namespace":"db"}},
         "runtimeSpec":{"ociVersion":"1.0.2-dev","linux":{"namespaces":[
           {"type":"pid"},{"type":"ipc"},{"type":"uts"},{"type":"mount"},
           {"type":"network","path":"/var/run/netns/cni-0e1f3a5c-6c1d-2b8e-0c9e-3f0a7d1b2c3d"}]}},
         "cniResult":null}
        """;

    [Fact]
    public void TheNetnsPathIsTheNetworkNamespaceOfTheSandboxsOciSpec() =>
        Assert.Equal("/var/run/netns/cni-0e1f3a5c-6c1d-2b8e-0c9e-3f0a7d1b2c3d", CriClient.NetnsPathOf(ContainerdInfo));

    [Theory]
    [InlineData("""{"pid":1}""")]
    [InlineData("""{"runtimeSpec":null}""")]
    [InlineData("""{"runtimeSpec":{"linux":{"namespaces":[{"type":"pid"},{"type":"network"}]}}}""")]
    [InlineData("""{"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":""}]}}}""")]
    [InlineData("""{"runtimeSpec":{"linux":{"namespaces":{"type":"network"}}}}""")]
    public void InfoWithoutANetnsPathHasNone(string info) => Assert.Null(CriClient.NetnsPathOf(info));

    [Fact]
    public void MalformedInfoIsAJsonError() => Assert.ThrowsAny<JsonException>(() => CriClient.NetnsPathOf("{\"runtimeSpec\":"));
}
