using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>A CNI plugin's error result (CNI spec 1.1, "Error"): its code, msg and details.</summary>
public sealed class CniPluginException(int code, string msg, string? details)
    : Exception($"CNI error {code}: {msg}{(string.IsNullOrEmpty(details) ? "" : $" ({details})")}")
{
    /// <summary>The error's <c>code</c>.</summary>
    public int Code { get; } = code;
    /// <summary>The error's <c>msg</c>.</summary>
    public string Msg { get; } = msg;
    /// <summary>The error's <c>details</c>, if any.</summary>
    public string? Details { get; } = details;
}

/// <summary>
/// <c>lab pod add --mode</c> and its DEL: the lab as a container runtime. It makes the pod's netns,
/// writes the node's conflist for the mode (the node's <c>/etc/cni/net.d</c> is
/// <see cref="LabLayout.CniConfigDirectory"/>) and runs the installed <c>fathom</c> plugin inside
/// the node — CNI_* variables, the network config on stdin, the result or error on stdout — as
/// containerd or CRI-O would (CNI spec 1.1, "Execution Protocol" and "Network configuration lists").
/// </summary>
public static class CniPods
{
    /// <summary>The agent-backed modes <c>lab pod add --mode</c> offers (DESIGN §3).</summary>
    public static readonly IReadOnlyList<string> Modes = ["underlay", "shared", "host-gw", "overlay"];

    /// <summary>The CNI version of the conflists the lab writes.</summary>
    public const string CniVersion = "1.1.0";

    /// <summary>The pod's interface, as kubelet names it.</summary>
    public const string IfName = "eth0";

    /// <summary>How long one plugin run may take (the plugin's own agent deadline is 30 s).</summary>
    private static readonly TimeSpan PluginTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Environment variable naming the plugin binary to run.</summary>
    public const string PluginVariable = "FATHOM_PLUGIN";

    /// <summary>
    /// The installed plugin: <c>$FATHOM_PLUGIN</c>, else <c>fathom</c> beside this fathomctl
    /// (artifacts/bin), else /opt/cni/bin/fathom.
    /// </summary>
    public static string ResolvePlugin()
    {
        if (Environment.GetEnvironmentVariable(PluginVariable) is { Length: > 0 } given)
            return File.Exists(given) ? given : throw new InvalidOperationException($"${PluginVariable} is {given}, which does not exist");
        foreach (var candidate in new[] { Path.Combine(AppContext.BaseDirectory, "fathom"), "/opt/cni/bin/fathom" })
            if (File.Exists(candidate)) return candidate;
        throw new InvalidOperationException($"the fathom CNI plugin is neither beside {AppContext.BaseDirectory} nor in /opt/cni/bin (run ./build.sh, or set ${PluginVariable})");
    }

    /// <summary>
    /// The conflist of <paramref name="mode"/> on <paramref name="node"/>: one <c>fathom</c> plugin
    /// whose <c>agentSocket</c> is the node's agent. Underlay names a device only when one is given;
    /// otherwise the agent picks the ENI.
    /// </summary>
    public static JsonObject Conflist(LabLayout layout, string node, string mode, string? device)
    {
        var plugin = new JsonObject
        {
            ["type"] = "fathom",
            ["mode"] = mode,
            ["agentSocket"] = layout.AgentSocket(node),
        };
        if (device is not null) plugin["device"] = device;
        return new JsonObject
        {
            ["cniVersion"] = CniVersion,
            ["name"] = "fathom-" + mode,
            ["plugins"] = new JsonArray(plugin),
        };
    }

    /// <summary>Writes the conflist to the node's CNI directory; returns its path.</summary>
    public static string WriteConflist(LabLayout layout, string node, string mode, string? device)
    {
        var directory = layout.CniConfigDirectory(node);
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, device is null ? $"10-fathom-{mode}.conflist" : $"10-fathom-{mode}-{device}.conflist");
        AtomicFile.Write(path, System.Text.Encoding.UTF8.GetBytes(Conflist(layout, node, mode, device).ToJsonString(Indented)));
        return path;
    }

    /// <summary>
    /// Makes pod <paramref name="name"/> on <paramref name="node"/> through the plugin (ADD) and records it.
    /// On failure the pod is undone as a runtime undoes it (DEL, then the netns deleted).
    /// </summary>
    /// <exception cref="CniPluginException">The plugin answered with an error.</exception>
    public static LabPod Add(LabLayout layout, LabState state, string name, string node, string mode, string? device, string plugin)
    {
        PodNetworking.RequireValidName(name);
        if (!Modes.Contains(mode)) throw new ArgumentException($"--mode: '{mode}' is not one of {string.Join(", ", Modes)}");
        if (device is not null && !InterfaceNames.IsValid(device)) throw new ArgumentException($"--device: '{device}' is not an interface name");
        var labNode = state.RequireNode(node);
        var podNetns = layout.PodNetns(name);
        if (Netns.Exists(podNetns)) throw new InvalidOperationException($"pod '{name}' exists ({podNetns})");

        var conflist = WriteConflist(layout, node, mode, device);
        var containerId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        using (var podNs = Netns.Create(podNetns))
        {
            // The runtime's sandbox comes with its loopback up (the pause container's job).
            using var podLinks = NetlinkHandle.OpenIn(podNs);
            podLinks.SetLinkUp(podLinks.GetLink("lo").Index);
        }
        try
        {
            var result = Invoke(plugin, labNode.Netns, "ADD", containerId, name, Path.Combine(Netns.RunDirectory, podNetns), conflist, prevResult: null);
            File.WriteAllText(ResultFile(layout, node, containerId), result?.ToJsonString() ?? "{}");
            var (ips, mac) = Addresses(result, podNetns);
            var pod = new LabPod(name, podNetns, node, mode, ips, mac, containerId, conflist);
            LabStateStore.SavePod(layout, pod);
            return pod;
        }
        catch
        {
            try { Invoke(plugin, labNode.Netns, "DEL", containerId, name, Path.Combine(Netns.RunDirectory, podNetns), conflist, prevResult: null); }
            catch (Exception e) when (e is CniPluginException or InvalidOperationException) { }
            LabControl.KillProcessesIn([podNetns]);
            Netns.TryDelete(podNetns);
            throw;
        }
    }

    /// <summary>CNI DEL of a pod <see cref="Add"/> made (with its ADD's result as prevResult); the caller then deletes the netns.</summary>
    /// <exception cref="CniPluginException">The plugin answered with an error: the pod is left as it is, for a retry.</exception>
    public static void Delete(LabLayout layout, LabState state, LabPod pod, string plugin)
    {
        var node = state.RequireNode(pod.Node);
        var resultFile = ResultFile(layout, pod.Node, pod.ContainerId!);
        var prev = File.Exists(resultFile) ? JsonNode.Parse(File.ReadAllText(resultFile)) : null;
        // DEL must work on a pod whose netns is already gone (CNI spec: CNI_NETNS may then be empty).
        var netnsPath = Netns.Exists(pod.Netns) ? Path.Combine(Netns.RunDirectory, pod.Netns) : "";
        Invoke(plugin, node.Netns, "DEL", pod.ContainerId!, pod.Name, netnsPath, pod.NetworkConfig!, prev);
        File.Delete(resultFile);
    }

    private static string ResultFile(LabLayout layout, string node, string containerId) =>
        Path.Combine(layout.CniConfigDirectory(node), $"result-{containerId[..12]}-{IfName}.json");

    /// <summary>
    /// Runs the plugin of the conflist at <paramref name="conflistPath"/> inside the node's netns, as a
    /// runtime does (libcni's <c>buildOneConfig</c>: the plugin's object plus the list's name and
    /// cniVersion, and prevResult for DEL). Returns the parsed result (null for DEL).
    /// </summary>
    private static JsonNode? Invoke(string plugin, string nodeNetns, string command, string containerId, string podName,
        string netnsPath, string conflistPath, JsonNode? prevResult)
    {
        var list = JsonNode.Parse(File.ReadAllText(conflistPath))!.AsObject();
        var config = list["plugins"]![0]!.DeepClone().AsObject();
        config["cniVersion"] = list["cniVersion"]!.DeepClone();
        config["name"] = list["name"]!.DeepClone();
        if (prevResult is not null) config["prevResult"] = prevResult.DeepClone();

        var psi = new ProcessStartInfo("ip")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "netns", "exec", nodeNetns, plugin }) psi.ArgumentList.Add(a);
        psi.Environment["CNI_COMMAND"] = command;
        psi.Environment["CNI_CONTAINERID"] = containerId;
        psi.Environment["CNI_NETNS"] = netnsPath;
        psi.Environment["CNI_IFNAME"] = IfName;
        psi.Environment["CNI_PATH"] = Path.GetDirectoryName(plugin);
        psi.Environment["CNI_ARGS"] = $"IgnoreUnknown=1;K8S_POD_NAMESPACE=lab;K8S_POD_NAME={podName};K8S_POD_INFRA_CONTAINER_ID={containerId}";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {plugin}");
        using var stdoutReader = process.StandardOutput;
        using var stderrReader = process.StandardError;
        var stdout = stdoutReader.ReadToEndAsync();
        var stderr = stderrReader.ReadToEndAsync();
        using (var stdin = process.StandardInput)
            stdin.Write(config.ToJsonString());
        if (!process.WaitForExit(PluginTimeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new InvalidOperationException($"{plugin} {command} did not finish within {PluginTimeout.TotalSeconds:0} s");
        }
        process.WaitForExit();
        var output = stdout.Result;
        if (process.ExitCode != 0) throw ErrorOf(plugin, command, process.ExitCode, output, stderr.Result);
        return command == "ADD" ? JsonNode.Parse(output) : null;
    }

    /// <summary>The plugin's error result, or — when stdout is not one — its exit code and stderr.</summary>
    private static Exception ErrorOf(string plugin, string command, int exitCode, string stdout, string stderr)
    {
        try
        {
            if (JsonNode.Parse(stdout) is JsonObject error && error["code"] is JsonValue code)
                return new CniPluginException(code.GetValue<int>(), error["msg"]?.GetValue<string>() ?? "", error["details"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { }
        return new InvalidOperationException($"{plugin} {command} exited {exitCode} without a CNI error: {(stdout + stderr).Trim()}");
    }

    /// <summary>
    /// The pod's addresses (without prefix length) and eth0's MAC from the result; what the result
    /// leaves out is read from the pod's netns (the kernel has the truth).
    /// </summary>
    private static (List<string> Ips, string? Mac) Addresses(JsonNode? result, string podNetns)
    {
        var ips = new List<string>();
        string? mac = null;
        if (result?["ips"] is JsonArray resultIps)
            foreach (var ip in resultIps)
                if (ip?["address"]?.GetValue<string>() is { } address) ips.Add(address.Split('/')[0]);
        if (result?["interfaces"] is JsonArray interfaces)
            mac = interfaces.FirstOrDefault(i => i?["name"]?.GetValue<string>() == IfName && i?["sandbox"] is not null)?["mac"]?.GetValue<string>();
        if (ips.Count > 0 && mac is not null) return (ips, mac);

        using var ns = Netns.Open(podNetns);
        using var links = NetlinkHandle.OpenIn(ns);
        if (!links.TryGetLink(IfName, out var eth0)) return (ips, mac);
        mac ??= eth0.Mac is { } m ? InterfaceNames.FormatMac(m) : null;
        if (ips.Count == 0)
            ips.AddRange(links.ListAddresses(AddressFamily.InterNetwork, eth0.Index).Select(a => a.Prefix.Address.ToString()));
        return (ips, mac);
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };
}
