using System.Net.NetworkInformation;
using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Underlay;

/// <summary>
/// The underlay datapath (DESIGN.md §3, the seed article's design): a whole host device (an
/// ENI, a hot-plugged NIC, an SR-IOV VF) becomes the pod's interface. Modelled on the reference
/// host-device plugin (containernetworking/plugins plugins/main/host-device) and Terway's
/// exclusive-ENI mode, with three deliberate differences, each covered by a differential test:
/// the device never leaves the host when ADD is refused (CNI_IFNAME taken in the pod), and is
/// back on it after any later failure, IPAM's included; DEL is idempotent (repeated, without
/// a netns, after the netns is gone); a failed DEL leaves the pod's device untouched.
/// </summary>
/// <remarks>
/// Every kernel change goes through a <see cref="NetlinkHandle"/> opened in the namespace it
/// changes (host, pod, and a transit netns on the rare paths that need one); the calling thread
/// never switches namespace.
/// The device's original name is stored on the device itself, in its alias (IFLA_IFALIAS),
/// exactly as host-device stores it, so either plugin can return a device the other moved.
/// </remarks>
public sealed class UnderlayDatapath(UnderlayConfig config) : IDatapath
{
    /// <summary>The mode's name in a network config's <c>mode</c>.</summary>
    public const string Mode = "underlay";

    /// <summary>The mode's entry for the plugin's table: its config section parsed (error 7 when wrong), then the datapath.</summary>
    public static IDatapath FromConfig(NetworkConfig config) => new UnderlayDatapath(UnderlayConfig.Parse(config));

    /// <inheritdoc/>
    public CniResult Add(CniRequest request, Func<CniResult?> allocate, Action<CniResult> record)
    {
        var selector = config.Selector;
        var ifName = request.IfName;
        var netnsPath = request.NetnsPath
            ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for ADD");

        using var pod = PodNetns.Open(netnsPath);
        using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
        using var podLinks = PodNetns.OpenLinks(pod);

        var device = KernelCall.Run($"look up {selector.Describe()} on the host", () => selector.Find(host))
            ?? throw new CniException(UnderlayErrorCodes.DeviceNotFound, $"{selector.Describe()} not found on the host",
                "underlay mode moves an existing host device into the pod; check the name, MAC or path");
        if ((device.Flags & LinkFlags.Loopback) != 0 || device.MasterIndex is not null)
            throw new CniException(UnderlayErrorCodes.DeviceBusy,
                $"host device \"{device.Name}\" cannot be given to a pod: it is {((device.Flags & LinkFlags.Loopback) != 0 ? "a loopback" : "enslaved to another device")}");

        // CNI spec §ADD: the plugin must fail if the interface name exists. Check before the
        // device leaves the host (host-device moves first and strands the device in the pod).
        if (KernelCall.Run($"look up {ifName} in netns {netnsPath}", () => podLinks.TryGetLink(ifName, out _)))
            throw new CniException(DatapathErrorCodes.IfNameExists,
                $"interface \"{ifName}\" already exists in netns {netnsPath}",
                $"host device \"{device.Name}\" was not moved: it is still on the host, unchanged");

        // What a rollback puts back besides name, alias, MTU and up state: a move flushes addresses.
        var hostAddresses = KernelCall.Run($"list the addresses of {device.Name}", () => host.ListAddresses(index: device.Index))
            .Where(a => a.Scope is not (RouteScope.Link or RouteScope.Host))
            .ToList();
        var attempt = new AddAttempt(device, hostAddresses, AddMark.New(device.Name));
        try
        {
            var inPod = MoveIn(host, podLinks, pod, attempt, ifName);
            KernelCall.Run($"set {ifName} up in netns {netnsPath}", () => podLinks.SetLinkUp(inPod.Index));
            // IPAM once the device is in the pod and up, as host-device orders it: the dhcp IPAM
            // plugin runs its DHCP client on CNI_IFNAME inside CNI_NETNS. A failed allocation
            // returns the device like any other failure here.
            var ipamResult = allocate();
            if (ipamResult is not null) PodAddressing.Apply(podLinks, inPod.Index, ifName, ipamResult);

            var mac = inPod.Mac is null ? null : InterfaceNames.FormatMac(inPod.Mac);
            var result = new CniResult
            {
                CniVersion = request.Config.CniVersion,
                Interfaces = [new CniInterface(ifName, mac, Mtu: inPod.Mtu, Sandbox: netnsPath)],
                // Every address belongs to the one interface this plugin reports (index 0).
                Ips = ipamResult?.Ips.Select(ip => ip with { Interface = 0 }).ToList() ?? [],
                Routes = ipamResult?.Routes.ToList() ?? [],
                // No Dns: CniCommands.Add sets it for every mode, as host-device does (config's, else IPAM's).
            };
            record(result);

            // Committed: the device must still be the one this ADD moved (a concurrent DEL of the
            // same container may have taken it back), and its alias becomes the bare host name,
            // what DEL and the reference host-device read.
            if (FindMarked(podLinks, attempt.Mark) is not { } mine || mine.Index != inPod.Index)
                throw new CniException(UnderlayErrorCodes.DeviceBusy,
                    $"host device \"{device.Name}\" left netns {netnsPath} while it was being attached (a DEL of the same container?)");
            KernelCall.Run($"record \"{device.Name}\" in the alias of {ifName}", () => podLinks.SetLinkAlias(inPod.Index, device.Name));
            return result;
        }
        catch (Exception e)
        {
            // Whatever failed — the kernel, IPAM, the record, a bug — what this ADD moved goes back
            // before the error does, and nothing else is touched.
            var outcome = ReturnAfterFailedAdd(host, podLinks, attempt);
            throw e is CniException c
                ? new CniException(c.Code, $"{c.Message}; {outcome}", c.Details, c)
                : new CniException(CniException.CodeFor(e), $"{e.Message}; {outcome}", null, e);
        }
    }

    /// <inheritdoc/>
    public void Delete(CniRequest request, CniResult? prevResult)
    {
        var ifName = request.IfName;
        var netnsPath = request.NetnsPath;
        // CNI spec §DEL: without a netns there is nothing of the pod left to undo here (the core
        // still releases IPAM). When the netns is gone, so is the pod's use of the device: the
        // kernel has already returned a physical NIC to the initial netns (default_device_exit,
        // net/core/dev.c), and a virtual one died with it. Both must succeed (kubernetes#43014).
        // So must a path that no longer holds a network namespace (EINVAL from Netns.Open: a
        // runtime unmounted the netns but left its file): no namespace, no device of ours in it.
        if (string.IsNullOrEmpty(netnsPath)) return;
        NetnsHandle pod;
        try
        {
            pod = Netns.Open(netnsPath);
        }
        catch (NetlinkException e) when (e.IsNotFound || e.Errno == (int)Errno.EINVAL)
        {
            return;
        }

        using (pod)
        {
            // The plugin's own namespace is never a pod's (ADD refuses it, 102): nothing of ours is
            // there to undo, and "returning" a device from the host to the host would rename it
            // where udev watches. Succeed, so the runtime's teardown ends; the core releases IPAM.
            if (PodNetns.IsPluginOwn(pod)) return;
            using var podLinks = PodNetns.OpenLinks(pod);
            // What the ADD result says of this interface in this sandbox: its MAC and its host MTU.
            var recorded = prevResult?.Interfaces.FirstOrDefault(i => i.Name == ifName && i.Sandbox == netnsPath);
            PhysicalAddress? recordedMac = null;
            if (recorded?.Mac is { } text) DeviceSelector.TryParseMac(text, out recordedMac);
            // By name, else (something in the pod renamed it) by the MAC the result recorded.
            // Not there at all: a repeated DEL, or an ADD that never got this far. Done.
            if (KernelCall.Run($"look up {ifName} in netns {netnsPath}", () => FindInPod(podLinks, ifName, recordedMac)) is not { } link)
                return;
            if (string.IsNullOrEmpty(link.Alias))
            {
                // ADD writes the alias before the device leaves the host, so no ADD of fathom's,
                // however interrupted, leaves a device here without one: this interface is the
                // pod's own. Typically the runtime's DEL after an ADD refused because CNI_IFNAME
                // was taken (103): there is nothing of ours to undo, and failing would fail the
                // pod's teardown on every retry. Leave it, as the spec's DEL allows ("resources
                // that are missing"), and let the core release IPAM.
                if (recordedMac is null || !SameMac(link.Mac, recordedMac)) return;
                // The ADD result says this device is ours, yet its alias is gone (cleared in the
                // pod): its host name is unknown, and guessing one could take another device's.
                throw new CniException(UnderlayErrorCodes.DeviceBusy,
                    $"interface \"{ifName}\" in netns {netnsPath} carries no alias naming its host device",
                    $"its MAC says fathom moved it there, but something cleared its alias; left where it is: set it (ip link set {link.Name} alias <host name>, in the pod) and DEL again");
            }

            // The alias is the host name, or an ADD's mark (an ADD killed or still running) whose first word it is.
            var hostName = AddMark.HostName(link.Alias)!;
            using var host = KernelCall.Run("open a netlink socket in the host netns", NetlinkHandle.Open);
            using var hostNs = KernelCall.Run("open the host netns", Netns.OpenCurrent);
            // The MTU the device had on the host, when the result says (interfaces[].mtu, spec 1.1.0).
            ReturnToHost(host, hostNs, podLinks, pod, link, ifName, hostName, recorded?.Mtu, netnsPath, prevResult);
        }
    }

    /// <summary>
    /// Moves <paramref name="link"/> (in the pod, as <paramref name="ifName"/>) back to the host as <paramref name="hostName"/>,
    /// left down, with the alias the bare host name and <paramref name="mtu"/> when given — DEL's
    /// way back, also the agent's teardown of an ENI (<see cref="UnderlayEni"/>). A name taken on
    /// the host is 101 and the pod's device stays untouched; a failed rename or move puts the
    /// device back in the pod as it was (<paramref name="prevResult"/>'s addresses and routes) so
    /// the caller can retry.
    /// </summary>
    internal static void ReturnToHost(NetlinkHandle host, NetnsHandle hostNs, NetlinkHandle podLinks, NetnsHandle pod, Link link,
        string ifName, string hostName, int? mtu, string netnsPath, CniResult? prevResult)
    {
        // Check the way back first: with the name taken the move would fail anyway, and the
        // pod keeps its device exactly as it is (up, addressed) for a later DEL.
        if (KernelCall.Run($"look up {hostName} on the host", () => host.TryGetLink(hostName, out var taken) ? taken : null) is { } conflict)
            throw new CniException(UnderlayErrorCodes.DeviceBusy,
                $"cannot return \"{ifName}\" to the host as \"{hostName}\": the host already has a device named \"{hostName}\" (index {conflict.Index})",
                $"\"{ifName}\" stays in netns {netnsPath}, untouched; DEL again once the name is free");

        // The name the device returns under must never be set on the host, where udev or a
        // network manager watch: rename it in the pod (no one watches there) and move it back
        // already named, one move. Only when the pod itself holds another device of that name
        // does the device pass through a private transit netns to be renamed. (It may hold
        // this one under that name: a DEL killed after the rename below, now retried.)
        if (KernelCall.Run($"look up {hostName} in netns {netnsPath}", () => podLinks.TryGetLink(hostName, out var holder) && holder.Index != link.Index))
        {
            MoveOutThroughTransit(podLinks, pod, hostNs, link, ifName, hostName, mtu, netnsPath, prevResult);
            return;
        }
        // Down first: the kernel refuses to rename a running device (dev_change_name, EBUSY);
        // the move would close it anyway (dev_close in __dev_change_net_namespace), so this
        // costs no extra wait.
        KernelCall.Run($"set {ifName} down in netns {netnsPath}", () => podLinks.SetLinkDown(link.Index));
        try
        {
            podLinks.SetLinkName(link.Index, hostName);
            // A mark left by an ADD (killed, or racing this DEL) goes: back on the host the alias is the bare name.
            if (link.Alias != hostName) podLinks.SetLinkAlias(link.Index, hostName);
            if (mtu is int m && m != link.Mtu) podLinks.SetLinkMtu(link.Index, m);
            // Left down, as host-device leaves it: the pool decides when it is used again.
            podLinks.MoveLinkToNetns(link.Index, hostNs, hostName);
        }
        catch (NetlinkException e)
        {
            var outcome = RestoreInPod(podLinks, link, ifName, prevResult);
            throw new CniException(CniErrorCode.DatapathFailure,
                $"cannot return \"{ifName}\" to the host as \"{hostName}\": {e.Message}", outcome, e);
        }
    }

    /// <summary>DEL when the pod holds a device named like the host device: rename in a transit netns.</summary>
    private static void MoveOutThroughTransit(NetlinkHandle podLinks, NetnsHandle pod, NetnsHandle hostNs, Link link,
        string ifName, string hostName, int? mtu, string netnsPath, CniResult? prevResult)
    {
        using var transit = KernelCall.Run("create a transit netns", TransitNetns.Create);
        // The move closes the device (dev_close in __dev_change_net_namespace): no separate down.
        KernelCall.Run($"move {ifName} out of netns {netnsPath}", () => podLinks.MoveLinkToNetns(link.Index, transit.Handle));
        try
        {
            var moving = FindByMac(transit.Netlink, link.Mac, link.Name)
                ?? throw new NetlinkException(Errno.ENODEV, $"{ifName} vanished on its way out of netns {netnsPath}");
            transit.Netlink.SetLinkName(moving.Index, hostName);
            if (moving.Alias != hostName) transit.Netlink.SetLinkAlias(moving.Index, hostName);
            if (mtu is int m && m != moving.Mtu) transit.Netlink.SetLinkMtu(moving.Index, m);
            transit.Netlink.MoveLinkToNetns(moving.Index, hostNs);
        }
        catch (NetlinkException e)
        {
            var outcome = ReturnToPod(transit, podLinks, pod, link, ifName, prevResult);
            throw new CniException(CniErrorCode.DatapathFailure,
                $"cannot return \"{ifName}\" to the host as \"{hostName}\": {e.Message}", outcome, e);
        }
    }

    /// <summary>After a failed one-move DEL: the device, still in the pod, gets its pod name, state and routes back.</summary>
    private static string RestoreInPod(NetlinkHandle podLinks, Link original, string ifName, CniResult? prevResult)
    {
        try
        {
            var link = FindByMac(podLinks, original.Mac, original.Name)
                ?? throw new NetlinkException(Errno.ENODEV, "the device is no longer in the pod");
            if (link.Name != ifName) podLinks.SetLinkName(link.Index, ifName);
            if (link.Mtu != original.Mtu) podLinks.SetLinkMtu(link.Index, original.Mtu);
            if (original.IsUp) podLinks.SetLinkUp(link.Index);
            // Addresses survive a down/up; routes through the device do not (fib_disable_ip on
            // NETDEV_DOWN): put back what the result had, skipping what is still there.
            if (prevResult is not null) PodAddressing.Apply(podLinks, link.Index, ifName, prevResult, skipExisting: true);
            return $"\"{ifName}\" is back in the pod as it was; DEL again to retry";
        }
        catch (Exception e) when (e is NetlinkException or CniException)
        {
            return $"\"{ifName}\" could not be restored in the pod either: {e.Message}";
        }
    }

    /// <inheritdoc/>
    public void Check(CniRequest request, CniResult prevResult)
    {
        var ifName = request.IfName;
        var netnsPath = request.NetnsPath
            ?? throw new CniException(CniErrorCode.InvalidEnvironment, "CNI_NETNS is required for CHECK");
        var index = prevResult.Interfaces.FindIndex(i => i.Name == ifName && i.Sandbox is not null);
        if (index < 0)
            throw new CniException(CniErrorCode.CheckFailed, $"prevResult has no interface \"{ifName}\" in a sandbox");
        var expected = prevResult.Interfaces[index];
        if (expected.Sandbox != netnsPath)
            throw new CniException(CniErrorCode.CheckFailed,
                $"sandbox in prevResult {expected.Sandbox} does not match CNI_NETNS {netnsPath}");

        using var pod = PodNetns.Open(netnsPath);
        using var podLinks = PodNetns.OpenLinks(pod);
        var link = KernelCall.Run($"look up {ifName} in netns {netnsPath}", () => podLinks.TryGetLink(ifName, out var l) ? l : null)
            ?? throw new CniException(CniErrorCode.CheckFailed, $"interface \"{ifName}\" is missing from netns {netnsPath}");
        var mac = link.Mac is null ? null : InterfaceNames.FormatMac(link.Mac);
        if (expected.Mac is not null && !string.Equals(expected.Mac, mac, StringComparison.OrdinalIgnoreCase))
            throw new CniException(CniErrorCode.CheckFailed,
                $"interface \"{ifName}\" in netns {netnsPath} has MAC {mac}, prevResult says {expected.Mac}");
        if (!link.IsUp)
            throw new CniException(CniErrorCode.CheckFailed, $"interface \"{ifName}\" in netns {netnsPath} is down");

        PodAddressing.Verify(podLinks, link.Index, ifName, netnsPath, prevResult, index);
    }

    // ---- moving ----

    /// <summary>
    /// host → pod in one move that also names the device CNI_IFNAME. The kernel renames it in the
    /// target namespace, never on the host (__dev_change_net_namespace takes the new name when the
    /// old one is taken in the pod; otherwise do_setlink renames it there right after the move,
    /// net/core/rtnetlink.c), so udev and network managers on the host never see a rename — what
    /// a transit netns guarantees, at half the kernel's cost: each move waits for RCU grace
    /// periods (synchronize_net, rcu_barrier), 10–50 ms here (docs/benchmarks.md, CNI, gives the
    /// command that measures it). Returns the pod's link, carrying this ADD's mark.
    /// </summary>
    private static Link MoveIn(NetlinkHandle host, NetlinkHandle podLinks, NetnsHandle pod, AddAttempt attempt, string ifName)
    {
        var original = attempt.Original;
        // The original name lives on the device itself (IFLA_IFALIAS), as host-device keeps it,
        // here inside this ADD's mark ("eth10 fathom-add:<token>": DEL reads the first word). It is
        // written before the move, not after as host-device does: then the device never sits in
        // the pod without it, and a DEL after a plugin killed at any later step knows where it goes
        // back. An alias is not a name: nothing on the host renames for it.
        KernelCall.Run($"mark \"{original.Name}\" with its name in its alias", () => host.SetLinkAlias(original.Index, attempt.Mark));
        attempt.MarkedOnHost = true;
        // No explicit "down" first (host-device sets one): the move itself closes the device
        // (__dev_change_net_namespace calls dev_close, net/core/dev.c). Racing ADDs for one device
        // all mark it; the kernel moves it once (the others get ENODEV: the index is no longer on
        // the host), and only the one whose move succeeded ever touches it in the pod. EEXIST
        // here means ifName appeared in the pod since the check.
        KernelCall.Run($"move {original.Name} into the pod's netns as {ifName}", () => host.MoveLinkToNetns(original.Index, pod, ifName));
        attempt.Moved = true;
        var inPod = KernelCall.Run($"look up {ifName} in the pod", () => podLinks.GetLink(ifName));
        // The move succeeded, so the device named ifName is the one this ADD moved; a racing ADD
        // may have written its own mark over ours before the move: ours from here on.
        if (inPod.Alias != attempt.Mark)
            KernelCall.Run($"mark {ifName} in the pod", () => podLinks.SetLinkAlias(inPod.Index, attempt.Mark));
        return inPod;
    }

    /// <summary>
    /// After a failed ADD: what this invocation moved — found by its mark, which no other
    /// invocation can hold, never by MAC (the pod may hold another interface with that MAC, or a
    /// racing ADD's winner) — goes back to the host, through a transit netns so that its own name
    /// is set where no one watches, with its original name, alias, MTU, up state and addresses.
    /// A device this ADD never moved is left where it is; only the mark it wrote on the host is
    /// undone, if still its own. Returns a sentence for the error message saying where the device is.
    /// </summary>
    private static string ReturnAfterFailedAdd(NetlinkHandle host, NetlinkHandle podLinks, AddAttempt attempt)
    {
        var original = attempt.Original;
        // A device whose alias was a mark when ADD found it (an ADD racing this one wrote it, or a
        // killed one): what it should read is the host name in it.
        var alias = AddMark.HostName(original.Alias) is { } marked && marked != original.Alias ? marked : original.Alias ?? "";
        try
        {
            if (!attempt.Moved)
            {
                if (attempt.MarkedOnHost && host.TryGetLink(original.Index, out var still) && still.Alias == attempt.Mark)
                    host.SetLinkAlias(still.Index, alias);
                return host.TryGetLink(original.Index, out var there) && there.Name == original.Name
                    ? $"host device \"{original.Name}\" was not moved: it is on the host as it was"
                    : $"host device \"{original.Name}\" was not moved by this ADD (another invocation has it)";
            }
            if (FindMarked(podLinks, attempt.Mark) is not { } inPod)
                return $"host device \"{original.Name}\" is no longer in the pod (a DEL of the same container took it back?)";

            // Opened here, not by every ADD: only this path moves a device back to the host.
            using var hostNs = Netns.OpenCurrent();
            using var transit = TransitNetns.Create();
            podLinks.MoveLinkToNetns(inPod.Index, transit.Handle);
            var moving = FindMarked(transit.Netlink, attempt.Mark)
                ?? throw new NetlinkException(Errno.ENODEV, $"{original.Name} vanished on its way back to the host");
            if (moving.Name != original.Name) transit.Netlink.SetLinkName(moving.Index, original.Name);
            transit.Netlink.SetLinkAlias(moving.Index, alias);
            if (moving.Mtu != original.Mtu) transit.Netlink.SetLinkMtu(moving.Index, original.Mtu);
            transit.Netlink.MoveLinkToNetns(moving.Index, hostNs);

            if (!host.TryGetLink(original.Name, out var back) || !SameMac(back.Mac, original.Mac))
                return $"host device \"{original.Name}\" could not be found to return it to the host";
            if (original.IsUp && !back.IsUp) host.SetLinkUp(back.Index);
            foreach (var address in attempt.HostAddresses)
                host.AddAddress(back.Index, address.Prefix, new AddressOptions
                {
                    Broadcast = address.Broadcast,
                    Scope = address.Scope,
                    NoDad = address.Family == System.Net.Sockets.AddressFamily.InterNetworkV6,
                    Label = address.Label,
                });
            return $"host device \"{original.Name}\" is back on the host";
        }
        catch (NetlinkException e)
        {
            return $"returning host device \"{original.Name}\" to the host failed too: {e.Message}";
        }
    }

    /// <summary>After a failed DEL: the device goes back into the pod as it was, so DEL can be retried.</summary>
    private static string ReturnToPod(TransitNetns transit, NetlinkHandle podLinks, NetnsHandle pod, Link original,
        string ifName, CniResult? prevResult)
    {
        try
        {
            var moving = FindByMac(transit.Netlink, original.Mac, ifName)
                ?? throw new NetlinkException(Errno.ENODEV, "the device is no longer in the transit netns");
            if (moving.Name != ifName) transit.Netlink.SetLinkName(moving.Index, ifName);
            transit.Netlink.MoveLinkToNetns(moving.Index, pod);
            var back = podLinks.GetLink(ifName);
            if (original.IsUp) podLinks.SetLinkUp(back.Index);
            // A move between namespaces flushes addresses and routes: put back what the result had.
            if (prevResult is not null) PodAddressing.Apply(podLinks, back.Index, ifName, prevResult);
            return $"\"{ifName}\" is back in the pod; DEL again to retry";
        }
        catch (Exception e) when (e is NetlinkException or CniException)
        {
            return $"\"{ifName}\" could not be put back into the pod either: {e.Message}";
        }
    }

    private static Link? FindInPod(NetlinkHandle podLinks, string ifName, PhysicalAddress? recordedMac)
    {
        if (podLinks.TryGetLink(ifName, out var byName)) return byName;
        if (recordedMac is null) return null;
        return podLinks.ListLinks().FirstOrDefault(l => !string.IsNullOrEmpty(l.Alias) && SameMac(l.Mac, recordedMac));
    }

    // The device keeps its MAC through every move; its index may change (a collision in the
    // target netns makes the kernel pick a new one, dev_change_net_namespace), its name does.
    internal static Link? FindByMac(NetlinkHandle netlink, PhysicalAddress? mac, string name)
    {
        var links = netlink.ListLinks();
        return mac is null
            ? links.FirstOrDefault(l => l.Name == name)
            : links.FirstOrDefault(l => (l.Flags & LinkFlags.Loopback) == 0 && SameMac(l.Mac, mac));
    }

    internal static bool SameMac(PhysicalAddress? a, PhysicalAddress? b) => a is null ? b is null : a.Equals(b);

    // The one link of a namespace carrying this ADD's mark: its token is this invocation's alone.
    private static Link? FindMarked(NetlinkHandle netlink, string mark) =>
        netlink.ListLinks().FirstOrDefault(l => l.Alias == mark);

    /// <summary>One ADD in progress: the device as found, its host addresses, this invocation's mark, and how far it got.</summary>
    private sealed class AddAttempt(Link original, IReadOnlyList<Address> hostAddresses, string mark)
    {
        public Link Original { get; } = original;
        public IReadOnlyList<Address> HostAddresses { get; } = hostAddresses;
        public string Mark { get; } = mark;
        public bool MarkedOnHost { get; set; }
        public bool Moved { get; set; }
    }
}

/// <summary>
/// The alias an ADD in progress gives the device: its host name, a space, and a token of this
/// invocation (<c>eth10 fathom-add:6f1c...</c>). Interface names hold no whitespace
/// (dev_valid_name), so the host name is always the alias's first word — DEL reads it that way —
/// and the token tells this invocation's device from any other, in any namespace, whatever its
/// index or MAC. A committed ADD leaves the bare host name (as host-device does).
/// </summary>
internal static class AddMark
{
    private const string Tag = " fathom-add:";

    /// <summary>A new mark for the device named <paramref name="hostName"/>.</summary>
    /// <remarks>
    /// The token is 12 bytes of a new GUID: the runtime draws those from the kernel's
    /// cryptographically secure source (getrandom). RandomNumberGenerator would go through
    /// OpenSSL, a library the static plugin must never load (src/Plugin/Native/no-shared-libraries.c;
    /// PluginIpamKernelTests.ADD_and_DEL_open_no_shared_library).
    /// </remarks>
    public static string New(string hostName)
    {
        Span<byte> token = stackalloc byte[16];
        Guid.NewGuid().TryWriteBytes(token);
        // Bytes 0–5 and 10–15: 6 and 7 hold the version nibble, 8 the variant bits.
        return hostName + Tag + Convert.ToHexStringLower(token[..6]) + Convert.ToHexStringLower(token[10..]);
    }

    /// <summary>The host name an alias records: the alias itself, or the first word of a mark; null for none.</summary>
    public static string? HostName(string? alias)
    {
        if (string.IsNullOrEmpty(alias)) return null;
        var space = alias.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? alias : alias[..space];
    }
}
