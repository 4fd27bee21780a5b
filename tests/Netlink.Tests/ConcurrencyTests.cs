using System.Net;
using System.Runtime.ExceptionServices;
using System.Text.Json;

namespace Fathom.Netlink.Tests;

/// <summary>
/// Eight threads configure eight namespaces at the same moment, each through its own
/// <see cref="NetlinkHandle"/> bound to its namespace, and through <see cref="Netns.Run"/> for a
/// sysctl; iproute2 then checks that every namespace holds exactly its own links, addresses,
/// routes and sysctl and nothing of another's (issue 2 §3: "eight threads configuring eight
/// namespaces at once without cross-talk").
/// </summary>
public sealed class ConcurrencyTests
{
    private const int Threads = 8;

    /// <summary>Rounds of create/configure/delete each thread does before its final layout, to overlap for longer.</summary>
    private const int Rounds = 15;

    [PrivilegedFact("ip")]
    public void Eight_threads_configure_eight_namespaces_without_cross_talk()
    {
        Privileged.Require("ip");
        var namespaces = new List<TestNetns>();
        try
        {
            for (var i = 0; i < Threads; i++) namespaces.Add(TestNetns.Create("ns"));

            RunAtOnce(Threads, i => Configure(i, namespaces[i].Name));

            for (var i = 0; i < Threads; i++) Verify(i, namespaces[i].Name);
        }
        finally
        {
            foreach (var ns in namespaces) ns.Dispose();
        }
    }

    /// <summary>
    /// Thread <paramref name="i"/>'s work: veth pairs, addresses and routes numbered by i, so a
    /// single object in the wrong namespace shows up by its name or its address.
    /// </summary>
    private static void Configure(int i, string name)
    {
        using var netns = Netns.Open(name);
        using var handle = NetlinkHandle.OpenIn(netns);
        for (var round = 0; round <= Rounds; round++)
        {
            var a = handle.CreateVeth($"ca{i}", $"cb{i}");
            var b = handle.GetLink($"cb{i}");
            handle.SetLinkMtu(a.Index, 1400 + i);
            handle.AddAddress(a.Index, IpPrefix.Parse($"10.{i}.0.1/24"));
            handle.AddAddress(b.Index, IpPrefix.Parse($"10.{i}.0.2/24"));
            handle.SetLinkUp(a.Index);
            handle.SetLinkUp(b.Index);
            handle.AddRoute(new Route
            {
                Destination = IpPrefix.Parse($"10.{100 + i}.0.0/16"),
                Gateway = IPAddress.Parse($"10.{i}.0.2"),
                OutputIndex = a.Index,
            });
            // Odd namespaces forward, even ones do not: a sysctl written in the wrong namespace shows.
            Netns.WriteSysctl(netns, "net.ipv4.ip_forward", i % 2 == 1 ? "1" : "0");
            if (round < Rounds) handle.DeleteLink(a.Index);
        }
    }

    private static void Verify(int i, string name)
    {
        var links = Json(Shell.IpIn(name, "-j", "link", "show"))
            .Select(l => l.GetProperty("ifname").GetString()!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["ca" + i, "cb" + i, "lo"], links);
        Assert.Equal(1400 + i, Json(Shell.IpIn(name, "-j", "link", "show", "ca" + i))[0].GetProperty("mtu").GetInt32());

        var addresses = Json(Shell.IpIn(name, "-j", "-4", "addr", "show"))
            .SelectMany(l => l.GetProperty("addr_info").EnumerateArray()
                .Select(a => $"{l.GetProperty("ifname").GetString()} {a.GetProperty("local").GetString()}/{a.GetProperty("prefixlen").GetInt32()}"))
            .Where(a => !a.StartsWith("lo ", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal([$"ca{i} 10.{i}.0.1/24", $"cb{i} 10.{i}.0.2/24"], addresses);

        var routes = Json(Shell.IpIn(name, "-j", "-4", "route", "show"))
            .Select(r => $"{r.GetProperty("dst").GetString()} {(r.TryGetProperty("gateway", out var gw) ? gw.GetString() : "-")} {r.GetProperty("dev").GetString()}")
            .Order(StringComparer.Ordinal).ToArray();
        string[] expectedRoutes = [$"10.{100 + i}.0.0/16 10.{i}.0.2 ca{i}", $"10.{i}.0.0/24 - ca{i}", $"10.{i}.0.0/24 - cb{i}"];
        Assert.Equal(expectedRoutes.Order(StringComparer.Ordinal), routes);

        var forward = Shell.Exec(name, "cat", "/proc/sys/net/ipv4/ip_forward").EnsureSuccess("cat ip_forward").Stdout.Trim();
        Assert.Equal(i % 2 == 1 ? "1" : "0", forward);
    }

    private static JsonElement[] Json(string text) =>
        JsonDocument.Parse(text).RootElement.EnumerateArray().ToArray();

    /// <summary>Runs <paramref name="work"/> on <paramref name="count"/> threads released together; rethrows the first failure.</summary>
    private static void RunAtOnce(int count, Action<int> work)
    {
        using var start = new Barrier(count);
        var failures = new ExceptionDispatchInfo?[count];
        var threads = Enumerable.Range(0, count).Select(i => new Thread(() =>
        {
            try
            {
                start.SignalAndWait();
                work(i);
            }
            catch (Exception e)
            {
                failures[i] = ExceptionDispatchInfo.Capture(e);
            }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();
        foreach (var f in failures) f?.Throw();
    }
}
