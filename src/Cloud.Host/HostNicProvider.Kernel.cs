using Fathom.Netlink;

namespace Fathom.Cloud.Host;

/// <summary>The node's side of <see cref="HostNicProvider"/>: which NICs are there, taking one, hot-plug.</summary>
public sealed partial class HostNicProvider
{
    private readonly HashSet<string> _taking = new(StringComparer.Ordinal);

    /// <summary>The selected NICs now in the node's namespace, by MAC (lower-case colon form).</summary>
    private Dictionary<string, Link> Present()
    {
        using var node = NetlinkHandle.OpenIn(_netns);
        var present = new Dictionary<string, Link>(StringComparer.Ordinal);
        foreach (var link in node.ListLinks())
            if (_selector.Matches(link))
                present.TryAdd(NicSelector.Format(link.Mac!), link);
        return present;
    }

    /// <summary>
    /// Drops the claims of NICs gone from the node that no pod holds (unplugged), and follows renames.
    /// Called under the lock.
    /// </summary>
    private void DropVanished(Dictionary<string, Link> present)
    {
        var held = HeldElsewhere;
        var changed = false;
        foreach (var claim in _claims.Values.ToList())
        {
            if (present.TryGetValue(claim.Mac, out var link))
            {
                if (link.Name != claim.Name)
                {
                    claim.Name = link.Name;
                    changed = true;
                }
                continue;
            }
            // Out of the node's sight: in a pod (moved there by the plugin, or on its way back), or unplugged.
            // Without the agent's word yet (start-up), assume a pod holds it: dropping one it holds would hand its address out twice.
            if (held is null || held(claim.EniId)) continue;
            _claims.Remove(claim.EniId);
            changed = true;
            Log($"{claim.EniId} ({claim.Name}, {claim.Address}) is gone from the node and no pod holds it: it leaves the pool");
        }
        if (changed) Save();
    }

    /// <summary>
    /// The ifindexes of links carrying an IPv4 address in the node: the node's own interfaces
    /// (its uplink, a management port). A NIC handed to a pod never has one in the node (addresses
    /// do not follow a device across namespaces), so a selector that also matches the node's own
    /// NIC — <c>eth*</c> on a node whose uplink is eth0 — can never cut the node off.
    /// </summary>
    private HashSet<int> NodeOwned()
    {
        using var node = NetlinkHandle.OpenIn(_netns);
        return [.. node.ListAddresses(System.Net.Sockets.AddressFamily.InterNetwork).Select(a => a.Index)];
    }

    private Eni Take(CreateEniRequest request)
    {
        var present = Present();
        var owned = NodeOwned();
        Link link;
        HostNicAddressing addressing;
        lock (_gate)
        {
            DropVanished(present);
            (link, addressing) = PickFree(present, owned) ?? throw new CloudException(CloudErrorKind.LimitExceeded, "HostNicsExhausted",
                $"no free NIC on the node matches cloud.host's {SelectorText()} ({_claims.Count} held by the pool)");
            _taking.Add(EniIdOf(link.Mac!));
        }
        try
        {
            var (address, subnet, gateway) = addressing.IsDhcp ? Lease(link) : addressing.Static();
            var claim = new NicClaim
            {
                EniId = EniIdOf(link.Mac!),
                Mac = NicSelector.Format(link.Mac!),
                Name = link.Name,
                Address = address.ToString(),
                Subnet = subnet.ToString(),
                Gateway = gateway.ToString(),
                Dhcp = addressing.IsDhcp,
                SecondaryPool = addressing.SecondaryAddresses,
                Tags = new Dictionary<string, string>(request.Tags, StringComparer.Ordinal),
            };
            lock (_gate)
            {
                _claims[claim.EniId] = claim;
                Save();
            }
            Log($"{claim.EniId} ({link.Name}) taken for the pool with {address}/{subnet.PrefixLength} via {gateway}{(addressing.IsDhcp ? " (DHCP)" : "")}");
            return ToEni(claim, "");
        }
        finally
        {
            lock (_gate) _taking.Remove(EniIdOf(link.Mac!));
        }
    }

    /// <summary>The first present NIC (by name) that is neither the pool's nor being taken and has an address to give. Under the lock.</summary>
    private (Link, HostNicAddressing)? PickFree(Dictionary<string, Link> present, HashSet<int> nodeOwned)
    {
        foreach (var link in present.Values.OrderBy(l => l.Name, StringComparer.Ordinal))
        {
            var id = EniIdOf(link.Mac!);
            if (_claims.ContainsKey(id) || _taking.Contains(id)) continue;
            if (nodeOwned.Contains(link.Index))
            {
                if (_warnedUnaddressed.Add(id))
                    Log($"{link.Name} ({NicSelector.Format(link.Mac!)}) matches cloud.host's selector but carries the node's own IPv4 address: never taken");
                continue;
            }
            if (_config.AddressingOf(link.Name, link.Mac!) is { } addressing) return (link, addressing);
            if (_warnedUnaddressed.Add(id))
                Log($"{link.Name} ({NicSelector.Format(link.Mac!)}) matches cloud.host's selector but cloud.host.nics gives it no address: not used");
        }
        return null;
    }

    /// <summary>
    /// Proxy neighbour entries (<c>ip neigh add proxy ADDR dev NIC</c>) for a NIC's secondary
    /// addresses: the node answers ARP for them on the NIC, since the shared pods holding them sit
    /// behind veths (net/ipv4/arp.c arp_process answers from pneigh_lookup when the route to the
    /// address leaves by another device and the node forwards). The NIC must be in the node; an
    /// entry goes with it when it leaves. Under the lock.
    /// </summary>
    private void ProxyArp(NicClaim claim, IEnumerable<string> addresses, bool answer)
    {
        using var node = NetlinkHandle.OpenIn(_netns);
        var link = node.ListLinks().FirstOrDefault(l => l.Mac is { } m && NicSelector.Format(m) == claim.Mac && _selector.Matches(l));
        if (link is null)
        {
            if (answer)
                throw new CloudException(CloudErrorKind.NotFound, "HostNicGone", $"{claim.EniId} ({claim.Name}) is not in the node: no addresses can be routed to it");
            return;
        }
        foreach (var address in addresses)
        {
            var entry = new Neighbor { Index = link.Index, Ip = System.Net.IPAddress.Parse(address), Flags = NeighborFlags.Proxy };
            try
            {
                if (answer) node.ReplaceNeighbor(entry);
                else node.DeleteNeighbor(entry);
            }
            catch (NetlinkException e) when (!answer && e.IsNotFound)
            {
            }
        }
    }

    private (System.Net.IPAddress, System.Net.IPNetwork, System.Net.IPAddress) Lease(Link link)
    {
        using (var node = NetlinkHandle.OpenIn(_netns))
            node.SetLinkUp(link.Index);
        var lease = Netns.Run(_netns, () => _dhcp.Acquire(link.Name));
        return (lease.Address, lease.Subnet, lease.Gateway);
    }

    private string SelectorText() =>
        _config.Names is { Count: > 0 } names ? $"names ({string.Join(", ", names)})"
        : _config.Macs is { Count: > 0 } macs ? $"macs ({string.Join(", ", macs)})"
        : $"pattern '{_config.Pattern}'";

    /// <summary>The watcher thread: a selected NIC plugged, changed or unplugged raises <see cref="NicsChanged"/>.</summary>
    private void Watch(LinkWatcher watcher, CancellationToken stop)
    {
        using (watcher)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (watcher.TryRead(TimeSpan.FromMilliseconds(500), out var linkEvent) && _selector.Matches(linkEvent.Link))
                        NicsChanged?.Invoke();
                }
                catch (NetlinkException e) when (e.Error == Errno.ENOBUFS)
                {
                    // Events were lost: whatever changed is found by listing the links again.
                    NicsChanged?.Invoke();
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Log($"watching the node's NICs failed, retrying: {e.Message}");
                    stop.WaitHandle.WaitOne(TimeSpan.FromSeconds(1));
                }
            }
        }
    }
}
