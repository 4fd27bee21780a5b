using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Fathom.Datapath;
using Fathom.Datapath.Shared;
using Fathom.Datapath.Underlay;
using Fathom.Netlink;

namespace Fathom.Agent.Teardown;

/// <summary>
/// The kernel work of <see cref="TeardownQueue"/>'s jobs (DESIGN §4: DEL releases at once, the slow
/// part runs here, in the background, one job at a time): a thin layer over the datapaths' own
/// code, so the plugin's rollback and the agent's teardown are one implementation.
/// <list type="bullet">
/// <item><see cref="TeardownAction.ReturnEni"/>: <see cref="UnderlayEni.Return"/> — the node veth
/// deleted, the ENI found by MAC in the pod's netns (renamed there, moved back under its host name,
/// left down), or, when that netns is gone, on the node already (the kernel returns a physical NIC
/// from a dying netns, default_device_exit in net/core/dev.c, under its pod name: renamed through
/// a transit netns) or gone with it (a virtual device, such as the lab's veths: the job then fails
/// and is retried until the device is plugged back, so the ENI is never warm without a device).</item>
/// <item><see cref="TeardownAction.DeleteVeth"/>: <see cref="SharedWiring.Remove"/> — the pod's two
/// rules and its veth.</item>
/// </list>
/// Every step is idempotent (a job cut short by a crash runs again from the start); a failure
/// throws, and the queue retries with backoff.
/// </summary>
public sealed class KernelTeardown : IDisposable
{
    private readonly NetnsHandle _node;

    /// <summary>Teardown in the namespace <paramref name="node"/> (the node's; a test's "host"). The handle stays the caller's.</summary>
    public KernelTeardown(NetnsHandle node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _node = node;
    }

    /// <summary>Teardown in the agent's own network namespace (the node's).</summary>
    public static KernelTeardown ForCurrentNetns() => new(Netns.OpenCurrent(), owned: true);

    private KernelTeardown(NetnsHandle node, bool owned) : this(node) => _owned = owned;

    private readonly bool _owned;

    /// <summary>The executor <see cref="TeardownQueue"/> runs (<see cref="TeardownExecutor"/>).</summary>
    public Task ExecuteAsync(TeardownJob job, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        cancellationToken.ThrowIfCancellationRequested();
        switch (job.Action)
        {
            case TeardownAction.ReturnEni:
                var mac = job.Mac ?? throw new InvalidOperationException($"teardown job {job.Sequence} returns ENI {job.Device} but records no MAC");
                ReturnEni(job.Device, PhysicalAddress.Parse(mac.Replace(':', '-').ToUpperInvariant()), job.NetnsPath);
                break;
            case TeardownAction.DeleteVeth:
                RemoveShared(job.Device, job.PodIp is { } ip ? IPAddress.Parse(ip) : null, job.RouteTable);
                break;
            default:
                throw new InvalidOperationException($"teardown job {job.Sequence}: unknown action {job.Action}");
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Gives the ENI <paramref name="mac"/> back to the node as <paramref name="hostDevice"/>, from the
    /// pod at <paramref name="netnsPath"/> if it still exists. Done only once the device is on the
    /// node under that name: a virtual device that died with its pod's netns (the lab's ENIs are
    /// veths; the lab, like a hypervisor, plugs one back) is waited for — the job fails and is
    /// retried — since until it is back the ENI is not warm, and one handed out without its device
    /// would fail the next pod's ADD (code 100).
    /// </summary>
    /// <exception cref="InvalidOperationException">The device is not back on the node yet.</exception>
    public void ReturnEni(string hostDevice, PhysicalAddress mac, string? netnsPath)
    {
        using (var pod = TryOpenPod(netnsPath))
            UnderlayEni.Instance.Return(_node, pod, hostDevice, mac);
        using var host = NetlinkHandle.OpenIn(_node);
        if (!host.TryGetLink(hostDevice, out var back) || back.Mac is null || !back.Mac.Equals(mac))
            throw new InvalidOperationException(
                $"ENI {hostDevice} ({mac}) is not back on the node yet: it went with its pod's netns; the job is retried until the device is plugged back");
    }

    /// <summary>
    /// Removes a shared pod's rules and veth. Without <paramref name="podIp"/> (and
    /// <paramref name="table"/>) they are read from the kernel: the node's route
    /// <c>podIP/32 dev hostVeth</c> and the rule <c>from podIP</c>. Once the veth is gone (its pod's
    /// netns deleted first) that route is gone too: then every shared-mode rule left without its
    /// pod's route is removed (a caller that knows the IP should still pass it).
    /// </summary>
    public void RemoveShared(string hostVeth, IPAddress? podIp, int? table)
    {
        using var host = NetlinkHandle.OpenIn(_node);
        podIp ??= PodIpRoutedTo(host, hostVeth);
        if (podIp is null)
        {
            NodeVeth.TryDelete(host, hostVeth);
            RemoveOrphanRules(host);
            return;
        }
        var pod = new IpPrefix(podIp, 32);
        table ??= host.ListRules(AddressFamily.InterNetwork)
            .FirstOrDefault(r => r.Priority == SharedWiring.FromPodPriority && r.From is { } f && f.Equals(pod))?.Table;
        SharedWiring.Remove(host, new SharedPod(podIp, hostVeth, PodIfName: "", EniTable: table ?? 0));
    }

    /// <summary>
    /// The veth went before its job ran (the pod's netns was deleted first: the kernel takes both
    /// ends and the host route), so the job cannot tell its pod's IP. Removes every shared-mode rule
    /// (priority 512 <c>to IP</c>, 1536 <c>from IP</c>) whose IP has no host route left. Safe against
    /// pods being wired meanwhile: <see cref="NodeVeth"/> installs the host route before
    /// <see cref="SharedWiring"/> adds the rules, and every removal takes the rules first, so a
    /// live pod's rules never lack their route.
    /// </summary>
    private static void RemoveOrphanRules(NetlinkHandle host)
    {
        var routed = host.ListRoutes(AddressFamily.InterNetwork)
            .Where(r => r.Destination is { PrefixLength: 32 })
            .Select(r => r.Destination!.Value.Address)
            .ToHashSet();
        foreach (var rule in host.ListRules(AddressFamily.InterNetwork))
        {
            var ip = rule.Priority switch
            {
                SharedWiring.ToPodPriority when rule.To is { PrefixLength: 32 } to && rule.From is null => to.Address,
                SharedWiring.FromPodPriority when rule.From is { PrefixLength: 32 } from && rule.To is null => from.Address,
                _ => null,
            };
            if (ip is null || routed.Contains(ip))
                continue;
            try
            {
                host.DeleteRule(rule);
            }
            catch (NetlinkException e) when (e.IsNotFound)
            {
            }
        }
    }

    // The pod's IP from the node's host route through its veth (NodeVeth wires exactly one).
    private static IPAddress? PodIpRoutedTo(NetlinkHandle host, string hostVeth)
    {
        if (!host.TryGetLink(hostVeth, out var veth))
            return null;
        return host.ListRoutes(AddressFamily.InterNetwork)
            .FirstOrDefault(r => r.OutputIndex == veth.Index && r.Destination is { PrefixLength: 32 })?.Destination?.Address;
    }

    /// <summary>
    /// Whether the pod's netns at <paramref name="netnsPath"/> still exists: false when its path is
    /// gone or has nothing mounted (the runtime deleted it: the pod is gone), null when the agent
    /// cannot tell — no path, or a folder it does not see (a container without the runtime's netns
    /// directory mounted must never take every pod for gone).
    /// </summary>
    public static bool? IsNetnsAlive(string? netnsPath)
    {
        if (string.IsNullOrEmpty(netnsPath) || Path.GetDirectoryName(netnsPath) is not { } folder || !Directory.Exists(folder))
            return null;
        using var pod = TryOpenPod(netnsPath);
        return pod is not null;
    }

    // The pod's netns, or null when it is gone (its path removed, or a file with nothing mounted).
    private static NetnsHandle? TryOpenPod(string? netnsPath)
    {
        if (string.IsNullOrEmpty(netnsPath))
            return null;
        try
        {
            return Netns.Open(netnsPath);
        }
        catch (NetlinkException e) when (e.IsNotFound || e.Errno == (int)Errno.EINVAL)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_owned)
            _node.Dispose();
    }
}
