using System.Diagnostics;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Fathom.Netlink;

namespace Fathom.Lab.Control;

/// <summary>
/// <c>lab pod add|del</c>: the seed article's manual underlay, for demos and run.sh — move an
/// ENI attached to a node into a fresh pod netns <c>{prefix}-pod-{name}</c>, rename it eth0,
/// bring it up and (optionally) <c>dhclient eth0</c> against the VPC's DHCP.
/// </summary>
public static partial class PodNetworking
{
    /// <summary>Adds a pod; returns its record (also written to pods.json).</summary>
    /// <param name="layout">The lab.</param>
    /// <param name="name">Pod name ([a-z0-9-], becomes part of the netns name).</param>
    /// <param name="node">The node's name (node1...).</param>
    /// <param name="device">The ENI's device in the node (eth1...); null: the highest-numbered ethN other than eth0.</param>
    /// <param name="dhcp">Configure eth0 with dhclient (true) or leave it unconfigured.</param>
    public static LabPod Add(LabLayout layout, string name, string node, string? device, bool dhcp) =>
        Add(layout, LoadUp(layout), name, node, device, dhcp);

    /// <summary>Adds a pod to the lab whose lab.json the caller has already read (<paramref name="state"/>): read once, not twice.</summary>
    /// <inheritdoc cref="Add(LabLayout, string, string, string?, bool)"/>
    public static LabPod Add(LabLayout layout, LabState state, string name, string node, string? device, bool dhcp)
    {
        RequireValidName(name);
        var labNode = state.RequireNode(node);
        var podNetns = layout.PodNetns(name);
        if (Netns.Exists(podNetns)) throw new InvalidOperationException($"pod '{name}' exists ({podNetns})");

        using var nodeNs = Netns.Open(labNode.Netns);
        using var nodeLinks = NetlinkHandle.OpenIn(nodeNs);
        var eni = device is null
            ? nodeLinks.ListLinks().Where(l => EthIndex(l.Name) > 0).MaxBy(l => EthIndex(l.Name))
                ?? throw new InvalidOperationException($"{node} has no ENI besides eth0: attach one first (fathomctl lab attach --node {node})")
            : nodeLinks.TryGetLink(device, out var found) ? found : throw new ArgumentException($"{node} has no device '{device}'");

        using var podNs = Netns.Create(podNetns);
        try
        {
            using var podLinks = NetlinkHandle.OpenIn(podNs);
            podLinks.SetLinkUp(podLinks.GetLink("lo").Index);
            // The seed's sequence: ip link set dev ethN netns POD; rename to eth0 inside; up.
            if (eni.IsUp) nodeLinks.SetLinkDown(eni.Index);
            nodeLinks.MoveLinkToNetns(eni.Index, podNs);
            var moved = podLinks.GetLink(eni.Name);
            podLinks.SetLinkName(moved.Index, "eth0");
            podLinks.SetLinkUp(moved.Index);
            if (dhcp) RunDhclient(layout, podNs, name);
            var ips = podLinks.ListAddresses(AddressFamily.InterNetwork, moved.Index).Select(a => a.Prefix.Address.ToString()).ToList();
            var pod = new LabPod(name, podNetns, node, "underlay", ips, Mac: moved.Mac is { } mac ? InterfaceNames.FormatMac(mac) : null);
            LabStateStore.SavePod(layout, pod);
            return pod;
        }
        catch
        {
            Netns.TryDelete(podNetns); // the ENI dies with it, and the lab plugs it back into the node
            throw;
        }
    }

    /// <summary>
    /// Records a pod made by someone else (the CNI plugin in run.sh, a test) so <c>lab status</c>
    /// lists it; it disappears from the listing once its netns is gone.
    /// </summary>
    public static void Record(LabLayout layout, LabPod pod)
    {
        if (!layout.Owns(pod.Netns) && !pod.Netns.StartsWith('/'))
            throw new ArgumentException($"netns '{pod.Netns}' is not one of lab '{layout.Prefix}' (expected {layout.NetnsPrefix}…)");
        LoadUp(layout).RequireNode(pod.Node);
        LabStateStore.SavePod(layout, pod);
    }

    /// <summary>A pod name becomes part of a netns name: [a-z0-9-], at most 32 chars.</summary>
    internal static void RequireValidName(string name)
    {
        if (!PodName().IsMatch(name)) throw new ArgumentException($"invalid pod name '{name}': use [a-z0-9-], at most 32 chars");
    }

    private static LabState LoadUp(LabLayout layout) =>
        LabStateStore.TryLoad(layout) ?? throw new InvalidOperationException($"lab '{layout.Prefix}' is not up");

    /// <summary>
    /// Deletes a pod. One that <c>lab pod add --mode</c> made through the plugin gets its CNI DEL
    /// first, as a runtime gives it (a failed DEL leaves the pod for a retry). Then its netns goes,
    /// as a container runtime deletes it — for a pod moved in by hand, without a DEL: the ENI's
    /// veth dies with it and the lab plugs it back into its node (issue 4 §4).
    /// </summary>
    /// <exception cref="CniPluginException">The plugin's DEL failed.</exception>
    public static bool Delete(LabLayout layout, string name)
    {
        var netns = layout.PodNetns(name);
        var record = Directory.Exists(layout.StateDirectory) ? LabStateStore.LoadPods(layout).FirstOrDefault(p => p.Name == name) : null;
        if (record is { ContainerId: not null, NetworkConfig: not null } && LabStateStore.TryLoad(layout) is { } state)
            CniPods.Delete(layout, state, record, CniPods.ResolvePlugin());
        var existed = Netns.Exists(netns);
        if (existed)
        {
            LabControl.KillProcessesIn([netns]);
            Netns.Delete(netns);
        }
        if (Directory.Exists(layout.StateDirectory))
            LabStateStore.UpdatePods(layout, pods => pods.RemoveAll(p => p.Name == name));
        return existed;
    }

    /// <summary>
    /// <c>dhclient -1 eth0</c> in the pod, with the lab's own dhclient-script (configures the
    /// interface and the default route, never /etc/resolv.conf) and lease/pid files in the
    /// state dir; then stops the client so no process keeps the pod's netns alive.
    /// </summary>
    private static void RunDhclient(LabLayout layout, NetnsHandle pod, string name)
    {
        var leases = Path.Combine(layout.StateDirectory, $"pod-{name}.leases");
        var pidFile = Path.Combine(layout.StateDirectory, $"pod-{name}.dhclient.pid");
        // dhclient resolves the lease file's realpath at start and exits when it does not exist.
        File.WriteAllBytes(leases, []);
        var run = DhclientArguments(layout, leases, pidFile, "-1", "eth0");
        var result = Netns.Run(pod, () => RunTool("dhclient", run, TimeSpan.FromSeconds(30)));
        Netns.Run(pod, () => RunTool("dhclient", DhclientArguments(layout, leases, pidFile, "-x"), TimeSpan.FromSeconds(10)));
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"dhclient eth0 in pod '{name}' failed ({result.ExitCode}): {result.Output.Trim()}");
    }

    /// <summary>dhclient's arguments with the lab's config, script, lease and pid files.</summary>
    public static IReadOnlyList<string> DhclientArguments(LabLayout layout, string leaseFile, string pidFile, params string[] rest) =>
        ["-cf", Path.Combine(layout.StateDirectory, "dhclient.conf"), "-sf", layout.DhclientScript, "-lf", leaseFile, "-pf", pidFile, .. rest];

    private static (int ExitCode, string Output) RunTool(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        // Process.Dispose leaves the redirected streams to whoever took them: close them here,
        // or each run leaks two pipe descriptors until a finalizer runs.
        using var stdoutReader = process.StandardOutput;
        using var stderrReader = process.StandardError;
        var stdout = stdoutReader.ReadToEndAsync();
        var stderr = stderrReader.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            return (-1, $"{file} timed out after {timeout.TotalSeconds:0} s");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>The N of "ethN", or -1.</summary>
    internal static int EthIndex(string name) =>
        name.StartsWith("eth", StringComparison.Ordinal) && int.TryParse(name.AsSpan(3), out var n) && n >= 0 ? n : -1;

    /// <summary>
    /// Writes dhclient.conf and the dhclient-script into the state dir. The script only sets
    /// the lease's address and default route; the system's /sbin/dhclient-script would also
    /// rewrite /etc/resolv.conf, which belongs to the machine, not to a pod.
    /// </summary>
    public static void WriteDhcpClientFiles(LabLayout layout)
    {
        File.WriteAllText(Path.Combine(layout.StateDirectory, "dhclient.conf"),
            """
            # Fathom lab: fail fast instead of dhclient's 60 s default timeout (dhclient.conf(5)), ask only what a pod needs.
            timeout 20;
            retry 1;
            initial-interval 1;
            request subnet-mask, broadcast-address, routers, interface-mtu;

            """);
        File.WriteAllText(layout.DhclientScript,
            """
            #!/bin/sh
            # Fathom lab dhclient-script: configure the interface, never /etc/resolv.conf.
            case "$reason" in
              PREINIT)
                ip link set dev "$interface" up ;;
              BOUND|RENEW|REBIND|REBOOT)
                if [ -n "$old_ip_address" ] && [ "$old_ip_address" != "$new_ip_address" ]; then
                  ip -4 addr flush dev "$interface"
                fi
                ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
                for router in $new_routers; do
                  ip -4 route replace default via "$router" dev "$interface"
                  break
                done ;;
            esac
            exit 0

            """);
        File.SetUnixFileMode(layout.DhclientScript, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$")]
    private static partial Regex PodName();
}
