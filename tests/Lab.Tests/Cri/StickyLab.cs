using System.Text.Json.Nodes;
using Fathom.Agent.Protocol;
using Fathom.Lab.Control;
using Fathom.Lab.Cri;
using Fathom.Lab.Tests.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Cri;

/// <summary>
/// What the sticky pods' lab tests share (issue 11 §3): giving a node's agent <c>pools.sticky</c>, its pid
/// and status, a sandbox's removal as the kubelet does it, reachability from a netns, the sandbox netns
/// holding an IP. LabStickyTests (underlay) and LabStickySharedTests (shared) both use them.
/// </summary>
internal static class StickyLab
{
    /// <summary>
    /// What an operator does to change a node's agent config: edit it and restart the agent (here
    /// SIGKILL, the lab's supervisor starts it again on the same file).
    /// </summary>
    public static void RestartWithSticky(string node, int retentionSeconds)
    {
        var path = TestLab.Layout.AgentConfigFile(node);
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config["pools"]!["sticky"] = new JsonObject
        {
            ["namespaces"] = new JsonArray("db"),
            ["names"] = new JsonArray("web-*"),
            ["retentionSeconds"] = retentionSeconds,
            ["checkIntervalSeconds"] = 1,
        };
        File.WriteAllText(path, config.ToJsonString());
        var old = AgentPid(node);
        Assert.True(Signal.Send(old, Signal.SIGKILL));
        Eventually.True(() => AgentPid(node) != old && Answers(node), $"{node}'s agent back with the sticky config", TimeSpan.FromSeconds(20));
    }

    public static AgentStatus StatusOf(string node) => new AgentClient(TestLab.Layout.AgentSocket(node), TimeSpan.FromSeconds(5)).Status();

    public static int AgentPid(string node) => LabStateStore.TryLoad(TestLab.Layout)!.Agents.Single(a => a.Node == node).Pid;

    public static bool Answers(string node)
    {
        try
        {
            return StatusOf(node) is not null;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or AgentException)
        {
            return false;
        }
    }

    /// <summary>Whether the node's agent log has logged <paramref name="eventName"/> at least <paramref name="times"/> times.</summary>
    public static bool Logged(string node, string eventName, int times = 1)
    {
        var text = File.ReadAllText(TestLab.Layout.AgentLog(node));
        var needle = $"\"event\":\"{eventName}\"";
        var count = 0;
        for (var at = text.IndexOf(needle, StringComparison.Ordinal); at >= 0; at = text.IndexOf(needle, at + needle.Length, StringComparison.Ordinal))
            count++;
        return count >= times;
    }

    public static async Task RemoveAsync(CriClient cri, string sandbox)
    {
        await cri.StopPodSandboxAsync(sandbox);
        await cri.RemovePodSandboxAsync(sandbox);
    }

    public static void AssertReaches(string netns, string ip, string who, string when)
    {
        var ping = Shell.Run("ip", ["netns", "exec", netns, "ping", "-c", "1", "-W", "3", ip]);
        Assert.True(ping.ExitCode == 0, $"{who} reaches web-0 at {ip} {when}: {ping.Stdout}{ping.Stderr}");
    }

    /// <summary>The sandbox netns (<c>cni-*</c>) whose eth0 holds <paramref name="ip"/>, or null.</summary>
    public static string? NetnsWithIp(string ip)
    {
        foreach (var file in Directory.EnumerateFiles(Netns.RunDirectory, "cni-*"))
        {
            try
            {
                using var ns = Netns.Open(file);
                using var links = NetlinkHandle.OpenIn(ns);
                if (links.TryGetLink("eth0", out var eth0) &&
                    links.ListAddresses(System.Net.Sockets.AddressFamily.InterNetwork, eth0.Index).Any(a => a.Prefix.Address.ToString() == ip))
                    return Path.GetFileName(file);
            }
            catch (NetlinkException) { }
        }
        return null;
    }
}
