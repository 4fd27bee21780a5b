using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Lab.Control;
using Fathom.Netlink;

namespace Fathom.Lab.Tests.Control;

/// <summary>
/// A container runtime for the lab's fault tests, as containerd runs CNI (spec 1.1, "Execution
/// Protocol"): a sandbox netns per pod, the installed <c>fathom</c> plugin run inside the node with
/// CNI_* and the network config on stdin, and — unlike <c>lab pod add</c>, which gives up after one
/// DEL — a DEL retried until it succeeds, for a failed ADD as for a pod that goes, before the
/// sandbox's netns is removed. It keeps the container ids, so the test can compare the agent's
/// allocations with the pods that live. In-process (no fathomctl per pod), so a churn of hundreds
/// of pods fits the suite's budget. The node's conflists are written once, before any pod: writing
/// them per pod from several threads would race on their temporary files.
/// </summary>
internal sealed class LabRuntime(LabLayout layout, LabState state, string plugin)
{
    /// <summary>A live pod: what the runtime knows of it after its ADD.</summary>
    public sealed record Pod(string Name, string Node, string Mode, string ContainerId, string Netns, string Ip, string? Mac, JsonNode Result);

    private static readonly TimeSpan PluginTimeout = TimeSpan.FromSeconds(60);
    private readonly Dictionary<(string Node, string Mode), string> _conflists = state.Nodes
        .SelectMany(n => CniPods.Modes.Select(m => (n.Name, m)))
        .ToDictionary(k => k, k => CniPods.WriteConflist(layout, k.Name, k.m, device: null));
    private long _delRetries;

    /// <summary>DELs that failed and were tried again (the agent was down, or answered 11).</summary>
    public long DelRetries => Interlocked.Read(ref _delRetries);

    /// <summary>
    /// One ADD of a new sandbox (a fresh container id and netns). On failure the sandbox is torn
    /// down as a runtime does — DEL until it succeeds, then the netns removed — and the plugin's
    /// error is thrown.
    /// </summary>
    /// <exception cref="CniPluginException">The plugin's error result.</exception>
    public Pod Add(string name, string node, string mode)
    {
        var conflist = _conflists[(node, mode)];
        var containerId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var netns = layout.PodNetns(name);
        using (var sandbox = Netns.Create(netns))
        {
            using var links = NetlinkHandle.OpenIn(sandbox);
            links.SetLinkUp(links.GetLink("lo").Index);
        }
        try
        {
            var result = Invoke(node, "ADD", containerId, NetnsPath(netns), conflist, prevResult: null)!;
            var ip = result["ips"]!.AsArray()[0]!["address"]!.GetValue<string>().Split('/')[0];
            var mac = result["interfaces"]?.AsArray().FirstOrDefault(i => i?["sandbox"] is not null)?["mac"]?.GetValue<string>();
            return new Pod(name, node, mode, containerId, netns, ip, mac, result);
        }
        catch
        {
            DeleteUntilDone(node, containerId, netns, conflist, prevResult: null, TimeSpan.FromSeconds(90));
            throw;
        }
    }

    /// <summary>DEL of <paramref name="pod"/> (with its ADD's result as prevResult) until it succeeds, then its netns removed.</summary>
    public void Delete(Pod pod, TimeSpan bound) =>
        DeleteUntilDone(pod.Node, pod.ContainerId, pod.Netns, _conflists[(pod.Node, pod.Mode)], pod.Result, bound);

    private void DeleteUntilDone(string node, string containerId, string netns, string conflist, JsonNode? prevResult, TimeSpan bound)
    {
        var clock = Stopwatch.StartNew();
        var pause = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                Invoke(node, "DEL", containerId, Netns.Exists(netns) ? NetnsPath(netns) : "", conflist, prevResult);
                break;
            }
            catch (Exception e) when (e is CniPluginException or InvalidOperationException)
            {
                if (clock.Elapsed > bound)
                    throw new Xunit.Sdk.XunitException($"DEL of {containerId[..12]} on {node} still fails after {bound.TotalSeconds:0} s: {e.Message}");
                Interlocked.Increment(ref _delRetries);
                Thread.Sleep(pause);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
        }
        Netns.TryDelete(netns);
    }

    private static string NetnsPath(string netns) => Path.Combine(Netns.RunDirectory, netns);

    /// <summary>The plugin inside the node's netns, as libcni runs one plugin of a list; the ADD's result, null for DEL.</summary>
    private JsonNode? Invoke(string node, string command, string containerId, string netnsPath, string conflistPath, JsonNode? prevResult)
    {
        var list = JsonNode.Parse(File.ReadAllText(conflistPath))!.AsObject();
        var config = list["plugins"]![0]!.DeepClone().AsObject();
        config["cniVersion"] = list["cniVersion"]!.DeepClone();
        config["name"] = list["name"]!.DeepClone();
        if (prevResult is not null) config["prevResult"] = prevResult.DeepClone();
        var psi = new ProcessStartInfo("ip", ["netns", "exec", state.RequireNode(node).Netns, plugin])
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = containerId;
        psi.Environment["CNI_NETNS"] = netnsPath;
        psi.Environment["CNI_IFNAME"] = CniPods.IfName;
        psi.Environment["CNI_PATH"] = Path.GetDirectoryName(plugin);
        psi.Environment["CNI_ARGS"] = $"IgnoreUnknown=1;K8S_POD_NAMESPACE=churn;K8S_POD_NAME={containerId[..12]}";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {plugin}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var stdin = process.StandardInput)
            stdin.Write(config.ToJsonString());
        if (!process.WaitForExit(PluginTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new InvalidOperationException($"{command} did not finish within {PluginTimeout.TotalSeconds:0} s");
        }
        process.WaitForExit();
        if (process.ExitCode == 0)
            return command == "ADD" ? JsonNode.Parse(stdout.Result) : null;
        try
        {
            if (JsonNode.Parse(stdout.Result) is JsonObject error && error["code"] is JsonValue code)
                throw new CniPluginException(code.GetValue<int>(), error["msg"]?.GetValue<string>() ?? "", error["details"]?.GetValue<string>());
        }
        catch (JsonException)
        {
        }
        throw new InvalidOperationException($"{command} exited {process.ExitCode} without a CNI error: {(stdout.Result + stderr.Result).Trim()}");
    }
}
