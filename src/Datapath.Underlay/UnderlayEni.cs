using System.Net;
using System.Net.NetworkInformation;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Underlay;

/// <summary>
/// An ENI the agent gave a pod (docs/modes.md, underlay): the same move as
/// <see cref="UnderlayDatapath"/> — the device is named CNI_IFNAME by the move itself, never on the
/// node, keeping its MAC and MTU, its host name in its alias — but addressed from the allocation
/// rather than a delegated IPAM, and with a small veth to the node (<see cref="NodeVeth"/>) so the
/// node reaches the pod (kubelet probes) and the pod reaches the node's own addresses. Its way back,
/// <see cref="Return"/>, is the agent's background teardown, off the DEL's critical path.
/// </summary>
public sealed class UnderlayEni : IEniWiring
{
    /// <summary>The one instance (the wiring holds no state).</summary>
    public static UnderlayEni Instance { get; } = new();

    private UnderlayEni()
    {
    }

    /// <inheritdoc/>
    public CniResult Attach(NetlinkHandle host, NetnsHandle pod, NetlinkHandle podLinks, string netnsPath, PodEni eni, string ifName,
        Action<CniResult> complete)
    {
        ArgumentNullException.ThrowIfNull(complete);
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(podLinks);
        ArgumentNullException.ThrowIfNull(eni);
        var device = KernelCall.Run($"look up {eni.HostDevice} on the node", () => host.TryGetLink(eni.HostDevice, out var l) ? l : null)
            ?? throw new CniException(UnderlayErrorCodes.DeviceNotFound, $"ENI \"{eni.HostDevice}\" given by fathom-agent is not on the node",
                "the agent's allocation names a device the node does not have; the agent's reconcile should notice");
        if (!UnderlayDatapath.SameMac(device.Mac, eni.Mac))
            throw new CniException(UnderlayErrorCodes.DeviceBusy,
                $"host device \"{eni.HostDevice}\" has MAC {(device.Mac is null ? "none" : InterfaceNames.FormatMac(device.Mac))}, fathom-agent's allocation says {InterfaceNames.FormatMac(eni.Mac)}",
                "not moved: it is not the ENI the agent means");
        foreach (var name in new[] { ifName, PodEni.NodeVethPodName })
            if (KernelCall.Run($"look up {name} in netns {netnsPath}", () => podLinks.TryGetLink(name, out _)))
                throw new CniException(DatapathErrorCodes.IfNameExists, $"interface \"{name}\" already exists in netns {netnsPath}",
                    $"ENI \"{eni.HostDevice}\" was not moved: it is still on the node, unchanged");

        // The node end of this ENI's veth is named after the ENI: one left over means a teardown of
        // its last pod has not run yet. Refused before the move, so a rollback never deletes a
        // device this ADD did not make.
        if (KernelCall.Run($"look up {eni.NodeVethHostName} on the node", () => host.TryGetLink(eni.NodeVethHostName, out _)))
            throw new CniException(UnderlayErrorCodes.DeviceBusy,
                $"the node still has \"{eni.NodeVethHostName}\", the node veth of ENI \"{eni.HostDevice}\" from an earlier pod",
                "not moved: fathom-agent's teardown of that pod has not run yet; retry");

        // The host name in the alias, as UnderlayDatapath writes it: whoever returns the device knows
        // its name. Moved, aliased, named and up in one request (issue 9 §10: each request is a turn
        // under RTNL): the kernel writes the alias right after the move, under the same lock, so the
        // device never stays in the pod without it, and a move refused leaves the alias as it was.
        var moved = false;
        try
        {
            try
            {
                KernelCall.Run($"move {eni.HostDevice} into the pod's netns as {ifName} and set it up",
                    () => host.MoveLinkToNetns(device.Index, pod, ifName, up: true, alias: eni.HostDevice));
            }
            catch
            {
                // The kernel sets the device up after it moved it: a refusal to open it leaves it in the pod.
                try
                {
                    moved = podLinks.TryGetLink(ifName, out var there) && UnderlayDatapath.SameMac(there.Mac, eni.Mac);
                }
                catch (NetlinkException)
                {
                    moved = true; // unknown: Undo's Return finds the device by its MAC wherever it is
                }
                throw;
            }
            moved = true;
            var inPod = KernelCall.Run($"look up {ifName} in the pod", () => podLinks.GetLink(ifName));
            var result = new CniResult
            {
                Interfaces = [new CniInterface(ifName, InterfaceNames.FormatMac(eni.Mac), Mtu: inPod.Mtu, Sandbox: netnsPath)],
                Ips = [new CniIpConfig(eni.Address, eni.Gateway, Interface: 0)],
                Routes = [new CniRoute(new IpPrefix(IPAddress.Any, 0), eni.Gateway)],
            };
            PodAddressing.Apply(podLinks, inPod.Index, ifName, result);
            // veth-node was looked for in the pod above, before the move.
            var nodeEnd = NodeVeth.CreateChecked(host, pod, podLinks, eni.NodeVethSpec).Node;
            // The node's end of the veth, as a result lists host-side interfaces (no sandbox).
            result.Interfaces.Add(new CniInterface(eni.NodeVethHostName, nodeEnd.Mac is null ? null : InterfaceNames.FormatMac(nodeEnd.Mac)));
            complete(result);
            return result;
        }
        catch (Exception e)
        {
            var outcome = Undo(host, pod, eni, device, moved);
            throw e is CniException c
                ? new CniException(c.Code, $"{c.Message}; {outcome}", c.Details, c)
                : new CniException(CniException.CodeFor(e), $"{e.Message}; {outcome}", null, e);
        }
    }

    /// <summary>
    /// Puts the node back as this ADD found it: the ENI back (if it moved) with its alias and up
    /// state as they were — what the agent's pool left, not what a teardown leaves — and its node
    /// veth gone. Returns a sentence for the error message.
    /// </summary>
    private string Undo(NetlinkHandle host, NetnsHandle pod, PodEni eni, Link original, bool moved)
    {
        try
        {
            if (moved)
            {
                using var node = Netns.OpenCurrent();
                Return(node, pod, eni.HostDevice, eni.Mac);
            }
            if (!host.TryGetLink(eni.HostDevice, out var back) || !UnderlayDatapath.SameMac(back.Mac, eni.Mac))
                return $"ENI \"{eni.HostDevice}\" could not be found on the node to restore it";
            if (back.Alias != original.Alias) host.SetLinkAlias(back.Index, original.Alias ?? "");
            if (original.IsUp && !back.IsUp) host.SetLinkUp(back.Index);
            return moved ? $"ENI \"{eni.HostDevice}\" is back on the node" : $"ENI \"{eni.HostDevice}\" was not moved: it is on the node as it was";
        }
        catch (Exception e) when (e is NetlinkException or CniException)
        {
            return $"returning ENI \"{eni.HostDevice}\" to the node failed too: {e.Message}";
        }
    }

    /// <inheritdoc/>
    public void Return(NetnsHandle node, NetnsHandle? pod, string hostDevice, PhysicalAddress mac)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(mac);
        using var host = KernelCall.Run("open a netlink socket in the node's netns", () => NetlinkHandle.OpenIn(node));
        // The veth first: deleting it takes its pod end and the node's route to the pod along.
        NodeVeth.TryDelete(host, NodeVeth.HostNameForEni(InterfaceNames.FormatMac(mac)));
        if (pod is not null)
        {
            using var podLinks = KernelCall.Run("open a netlink socket in the pod's netns", () => NetlinkHandle.OpenIn(pod));
            if (KernelCall.Run("find the ENI in the pod by its MAC", () => UnderlayDatapath.FindByMac(podLinks, mac, hostDevice)) is { } link)
            {
                // The MTU goes with the device through every move: nothing to restore.
                UnderlayDatapath.ReturnToHost(host, node, podLinks, pod, link, link.Name, hostDevice, mtu: null, "of the pod", prevResult: null);
                return;
            }
        }
        // Not in the pod: already back (a Return that ran before), back from the kernel when the
        // pod's netns went (default_device_exit, net/core/dev.c: under its pod name, or devN), or
        // gone with it (a virtual device). Only a device back under another name needs work.
        if (KernelCall.Run("find the ENI on the node by its MAC", () => UnderlayDatapath.FindByMac(host, mac, hostDevice)) is not { } onNode
            || onNode.Name == hostDevice)
            return;
        RenameOnNode(host, node, onNode, hostDevice, mac);
    }

    // Renamed where no one watches (a transit netns), never on the node: udev and network managers.
    private static void RenameOnNode(NetlinkHandle host, NetnsHandle node, Link link, string hostDevice, PhysicalAddress mac)
    {
        if (KernelCall.Run($"look up {hostDevice} on the node", () => host.TryGetLink(hostDevice, out var t) ? t : null) is { } taken)
            throw new CniException(UnderlayErrorCodes.DeviceBusy,
                $"cannot give ENI \"{link.Name}\" back its name \"{hostDevice}\": the node has another device of that name (index {taken.Index})");
        using var transit = KernelCall.Run("create a transit netns", TransitNetns.Create);
        KernelCall.Run($"move {link.Name} into a transit netns", () => host.MoveLinkToNetns(link.Index, transit.Handle));
        KernelCall.Run($"rename the ENI {hostDevice} and move it back to the node", () =>
        {
            var moving = UnderlayDatapath.FindByMac(transit.Netlink, mac, link.Name)
                ?? throw new NetlinkException(Errno.ENODEV, $"{link.Name} vanished in the transit netns");
            transit.Netlink.SetLinkName(moving.Index, hostDevice);
            transit.Netlink.SetLinkAlias(moving.Index, hostDevice);
            transit.Netlink.MoveLinkToNetns(moving.Index, node);
        });
    }

    /// <inheritdoc/>
    public void Verify(NetlinkHandle host, NetlinkHandle podLinks, string netnsPath, string ifName, CniResult prevResult)
    {
        ArgumentNullException.ThrowIfNull(podLinks);
        ArgumentNullException.ThrowIfNull(prevResult);
        var index = prevResult.Interfaces.FindIndex(i => i.Name == ifName && i.Sandbox == netnsPath);
        if (index < 0)
            throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no interface \"{ifName}\" in sandbox {netnsPath}");
        var expected = prevResult.Interfaces[index];
        var link = KernelCall.Run($"look up {ifName} in netns {netnsPath}", () => podLinks.TryGetLink(ifName, out var l) ? l : null)
            ?? throw new CniException(CniErrorCode.CheckFailed, $"interface \"{ifName}\" is missing from netns {netnsPath}");
        var mac = link.Mac is null ? null : InterfaceNames.FormatMac(link.Mac);
        if (expected.Mac is null || !string.Equals(expected.Mac, mac, StringComparison.OrdinalIgnoreCase))
            throw new CniException(CniErrorCode.CheckFailed,
                $"interface \"{ifName}\" in netns {netnsPath} has MAC {mac}, prevResult says {expected.Mac}");
        if (!link.IsUp)
            throw new CniException(CniErrorCode.CheckFailed, $"interface \"{ifName}\" in netns {netnsPath} is down");
        PodAddressing.Verify(podLinks, link.Index, ifName, netnsPath, prevResult, index);
        var podIp = prevResult.Ips.FirstOrDefault(ip => ip.Interface == index)?.Address.Address
            ?? throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no address on \"{ifName}\"");
        NodeVeth.Verify(host, podLinks, new NodeVethSpec(NodeVeth.HostNameForEni(expected.Mac), PodEni.NodeVethPodName, podIp, []));
    }
}
