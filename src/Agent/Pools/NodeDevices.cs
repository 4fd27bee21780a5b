using System.Net;
using System.Net.NetworkInformation;
using Fathom.Datapath.Shared;
using Fathom.Netlink;

namespace Fathom.Agent.Pools;

/// <summary>
/// What the pools need of the node's kernel: the name an attached ENI has in the node's namespace
/// (found by MAC: the kernel names it, udev may rename it), and its routing table for shared pods.
/// An interface so that pool logic runs against the in-process lab, which has no kernel fabric.
/// </summary>
public interface INodeDevices
{
    /// <summary>The device with <paramref name="mac"/> in the node's namespace, or null when the kernel has not shown it yet.</summary>
    string? NameOf(PhysicalAddress mac);

    /// <summary>
    /// Installs the routing table of an ENI that hosts secondary IPs (<see cref="EniRouting"/>):
    /// table <paramref name="table"/> on <paramref name="device"/> via <paramref name="gateway"/>, and
    /// the ENI's <paramref name="primaryIp"/> on the device. Idempotent.
    /// </summary>
    void InstallRouting(string device, int table, IPAddress gateway, IPAddress primaryIp);
}

/// <summary>The node's own namespace, through netlink: what <c>fathom-agent</c> runs with.</summary>
public sealed class KernelNodeDevices : INodeDevices
{
    /// <inheritdoc />
    public string? NameOf(PhysicalAddress mac)
    {
        using var host = NetlinkHandle.Open();
        // A NIC has no link kind; in the lab an ENI is a veth whose node end carries the ENI's MAC
        // (the lab's fabric). Bridges, VXLAN devices and the like never stand for an ENI.
        return host.ListLinks().FirstOrDefault(l => l.Mac is { } m && m.Equals(mac) && l.Kind is null or "veth")?.Name;
    }

    /// <inheritdoc />
    public void InstallRouting(string device, int table, IPAddress gateway, IPAddress primaryIp)
    {
        using var host = NetlinkHandle.Open();
        using var netns = Netns.OpenCurrent();
        var link = host.GetLink(device);
        EniRouting.Install(host, netns, link.Index, device, table, gateway, primaryIp);
    }
}
