using System.Text.Json;

namespace Fathom.Netlink.Tests;

/// <summary>
/// A fresh namespace for one privileged test (made and removed by <see cref="TestNetns"/>, i.e.
/// by iproute2, independently of the code under test), a <see cref="NetnsHandle"/> on it and a
/// <see cref="NetlinkHandle"/> bound to it, plus <c>ip -j</c> / <c>bridge -j</c> readers for
/// cross-checks.
/// </summary>
internal sealed class KernelNetns : IDisposable
{
    private KernelNetns(TestNetns netns, NetnsHandle handle, NetlinkHandle netlink)
    {
        Netns = netns;
        Handle = handle;
        Netlink = netlink;
    }

    public TestNetns Netns { get; }
    public NetnsHandle Handle { get; }
    public NetlinkHandle Netlink { get; }
    public string Name => Netns.Name;

    public static KernelNetns Create()
    {
        var netns = TestNetns.Create("nl");
        NetnsHandle? handle = null;
        try
        {
            handle = Fathom.Netlink.Netns.Open(netns.Name);
            return new KernelNetns(netns, handle, NetlinkHandle.OpenIn(handle));
        }
        catch
        {
            handle?.Dispose();
            netns.Dispose();
            throw;
        }
    }

    /// <summary>Runs <c>ip -n NS ARGS</c>; throws on failure.</summary>
    public string Ip(params string[] args) => Shell.IpIn(Name, args);

    /// <summary><c>ip -n NS -j [-d] ARGS</c> parsed.</summary>
    public JsonElement IpJson(params string[] args) => Parse(Shell.IpIn(Name, ["-j", "-d", .. args]));

    /// <summary><c>bridge -n NS -j ARGS</c> parsed.</summary>
    public JsonElement BridgeJson(params string[] args) =>
        Parse(Shell.Run("bridge", ["-n", Name, "-j", .. args]).EnsureSuccess("bridge " + string.Join(' ', args)).Stdout);

    /// <summary>Runs <c>bridge -n NS ARGS</c>; throws on failure.</summary>
    public void Bridge(params string[] args) =>
        Shell.Run("bridge", ["-n", Name, .. args]).EnsureSuccess("bridge " + string.Join(' ', args));

    /// <summary>The single object of <c>ip -j -d link show dev NAME</c>.</summary>
    public JsonElement IpLink(string name) => IpJson("link", "show", "dev", name)[0];

    /// <summary>The ifindex iproute2 reports for a link.</summary>
    public int IndexOf(string name) => IpLink(name).GetProperty("ifindex").GetInt32();

    private static JsonElement Parse(string json) =>
        string.IsNullOrWhiteSpace(json) ? JsonDocument.Parse("[]").RootElement.Clone() : JsonDocument.Parse(json).RootElement.Clone();

    public void Dispose()
    {
        Netlink.Dispose();
        Handle.Dispose();
        Netns.Dispose();
    }
}
