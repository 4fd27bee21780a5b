using Fathom.Cni;

namespace Fathom.Datapath.Tests;

public sealed class PodNetnsTests
{
    [Theory]
    [InlineData("/var/run/netns/ftest-nonesuch")]
    [InlineData("/proc/1/nonesuch")]
    public void A_namespace_that_cannot_be_opened_is_error_102_naming_the_path(string path)
    {
        var e = Assert.Throws<CniException>(() => PodNetns.Open(path));
        Assert.Equal(DatapathErrorCodes.NetnsNotFound, e.Code);
        Assert.Equal(102, (int)e.Code);
        Assert.Contains(path, e.Message);
    }
}

public sealed class PodNetnsOwnNamespaceTests
{
    // Opening a namespace needs no privilege; telling it is the plugin's own is what matters here.
    [Theory]
    [InlineData("/proc/self/ns/net")]
    [InlineData("/proc/thread-self/ns/net")]
    public void The_plugins_own_namespace_is_error_102_never_a_pod(string path)
    {
        var e = Assert.Throws<CniException>(() => PodNetns.Open(path));
        Assert.Equal(DatapathErrorCodes.NetnsNotFound, e.Code);
        Assert.Contains("own network namespace", e.Message);
    }

    [PrivilegedFact("ip")]
    public void A_bind_mount_of_the_plugins_namespace_is_its_own_and_a_fresh_one_is_not()
    {
        var mount = Path.Combine(Path.GetTempPath(), $"fathom-ownns-{Environment.ProcessId}");
        File.WriteAllText(mount, "");
        try
        {
            Shell.Run("mount", ["--bind", "/proc/self/ns/net", mount]).EnsureSuccess("bind-mount the netns");
            try
            {
                Assert.Equal(102, (int)Assert.Throws<CniException>(() => PodNetns.Open(mount)).Code);
            }
            finally
            {
                Shell.Run("umount", [mount]);
            }
        }
        finally
        {
            File.Delete(mount);
        }
        using var pod = TestNetns.Create("own");
        using var handle = PodNetns.Open(pod.Path);
        Assert.False(PodNetns.IsPluginOwn(handle));
    }
}

public sealed class PodNetnsLinksTests
{
    // The handle sees the pod's links, not the caller's; the caller's thread is back where it was.
    private static void OpensInThePodAndComesBack()
    {
        using var pod = TestNetns.Create("links");
        Shell.IpIn(pod.Name, "link", "add", "fpcveth0", "type", "veth", "peer", "name", "fpcveth1");
        using var before = Fathom.Netlink.Netns.OpenCurrent();
        using var handle = PodNetns.Open(pod.Path);
        using (var links = PodNetns.OpenLinks(handle))
        {
            Assert.True(links.TryGetLink("fpcveth0", out _));
            using var after = Fathom.Netlink.Netns.OpenCurrent();
            Assert.Equal(before.Inode, after.Inode);
        }
        using var host = Fathom.Netlink.NetlinkHandle.Open();
        Assert.False(host.TryGetLink("fpcveth0", out _));
    }

    [PrivilegedFact("ip")]
    public void On_a_thread_of_its_own_the_socket_is_made_in_the_pod_by_setns_and_back()
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try { OpensInThePodAndComesBack(); }
            catch (Exception e) { failure = e; }
        });
        thread.Start();
        thread.Join();
        Assert.Null(failure);
    }

    [PrivilegedFact("ip")]
    public async Task On_a_pool_thread_the_socket_is_made_on_a_thread_of_its_own() =>
        await Task.Run(OpensInThePodAndComesBack);
}
