using System.Net;
using System.Net.NetworkInformation;
using Fathom.Lab.Dhcp;
using Fathom.Lab.Ec2;
using Fathom.Netlink;

namespace Fathom.Lab.Topology;

/// <summary>
/// The VPC realized in the kernel (DESIGN.md §6): the VPC netns holds one bridge per subnet
/// (the gateway .1 is the bridge's address, ip_forward makes the netns the VPC router), an
/// instance is a netns, and an attached ENI is a veth carrying the ENI's MAC whose end
/// <c>eth{DeviceIndex}</c> sits in the instance and whose peer <c>v{mac}</c> is a port of the
/// subnet's bridge. All changes go through Fathom.Netlink handles bound to each namespace.
/// </summary>
/// <remarks>
/// Thread-safe: the EC2 API and the recovery watcher call from different threads, and every
/// operation holds one lock, because a netlink handle is one socket and not thread-safe.
/// </remarks>
internal sealed class VpcFabric : IVpcFabric, IDisposable
{
    private readonly DhcpService _dhcp;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly NetnsHandle _vpc;
    private readonly NetlinkHandle _vpcLinks;
    private readonly Dictionary<string, SubnetPort> _subnets = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _instanceNetns = new(StringComparer.Ordinal);
    // MAC → attachment, for every ENI that is attached now; the recovery watcher's source of truth.
    private readonly Dictionary<PhysicalAddress, EniAttachment> _attached = [];
    private readonly Dictionary<string, DateTimeOffset> _attachedAt = new(StringComparer.Ordinal);
    // ENI id → the secondary IPs the router has a permanent neighbour for, and on which bridge.
    private readonly Dictionary<string, (int BridgeIndex, IPAddress[] Ips)> _secondaries = new(StringComparer.Ordinal);
    private string? _launchingNetns;

    private sealed record SubnetPort(int BridgeIndex, IPNetwork Cidr, IPAddress Gateway);

    public VpcFabric(NetnsHandle vpc, DhcpService dhcp, TimeProvider? time = null)
    {
        _vpc = vpc;
        _dhcp = dhcp;
        _time = time ?? TimeProvider.System;
        _vpcLinks = NetlinkHandle.OpenIn(vpc);
    }

    /// <summary>Log sink (the server prints to its log file).</summary>
    public Action<string> Log { get; init; } = _ => { };

    /// <summary>Creates subnet <paramref name="index"/>'s bridge with the subnet's gateway address (the cloud's), and its DHCP server.</summary>
    public void AddSubnet(Subnet subnet, int index)
    {
        var (subnetId, cidr, gateway) = (subnet.SubnetId, subnet.Cidr, subnet.Gateway);
        lock (_gate)
        {
            var bridgeName = LabLayout.BridgeName(index);
            // A fixed MAC: otherwise the bridge takes its lowest port MAC, which changes as ENIs
            // come and go (net/bridge/br_stp_if.c br_stp_recalculate_bridge_id) and every
            // instance's ARP entry for the gateway would go stale.
            var bridge = _vpcLinks.CreateBridge(bridgeName, new BridgeOptions
            {
                Mtu = LabLayout.FabricMtu,
                Mac = new PhysicalAddress([0x02, 0x00, 0x0a, 0x00, (byte)(16 * index), 0x01]),
            });
            _vpcLinks.AddAddress(bridge.Index, new IpPrefix(gateway, cidr.PrefixLength));
            ActAsTheVpcsArpResponder(bridgeName);
            _vpcLinks.SetLinkUp(bridge.Index);
            _subnets[subnetId] = new SubnetPort(bridge.Index, cidr, gateway);
        }
        _dhcp.StartSubnet(_vpc, subnetId, LabLayout.BridgeName(index), cidr);
    }

    /// <summary>
    /// Binds an instance to its netns. <see cref="Ec2Cloud"/> attaches the primary ENI while
    /// launching, before the caller knows the instance id: <see cref="BeginLaunch"/> names the
    /// netns the next unknown instance lives in.
    /// </summary>
    /// <remarks>Launches are sequential (the lab server launches its nodes one by one at start, and <c>lab node add</c> one at a time).</remarks>
    public IDisposable BeginLaunch(string netns)
    {
        lock (_gate) _launchingNetns = netns;
        return new LaunchScope(this);
    }

    private sealed class LaunchScope(VpcFabric fabric) : IDisposable
    {
        public void Dispose()
        {
            lock (fabric._gate) fabric._launchingNetns = null;
        }
    }

    public void RegisterInstance(string instanceId, string netns)
    {
        lock (_gate) _instanceNetns[instanceId] = netns;
    }

    /// <summary>Unbinds a terminated instance from its netns (<c>lab node rm</c>), once EC2 has detached its ENIs.</summary>
    public void ForgetInstance(string instanceId)
    {
        lock (_gate) _instanceNetns.Remove(instanceId);
    }

    /// <summary>When the ENI was last plugged (IMDS hides it for a while after, as AWS does).</summary>
    public DateTimeOffset? AttachedAt(string eniId)
    {
        lock (_gate) return _attachedAt.TryGetValue(eniId, out var at) ? at : null;
    }

    public Task AttachAsync(EniAttachment attachment, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_instanceNetns.TryGetValue(attachment.InstanceId, out var netns))
            {
                netns = _launchingNetns ?? throw new InvalidOperationException($"instance {attachment.InstanceId} has no namespace in this lab");
                _instanceNetns[attachment.InstanceId] = netns;
            }
            Plug(attachment, netns);
            _attached[attachment.MacAddress] = attachment;
            _attachedAt[attachment.EniId] = _time.GetUtcNow();
        }
        _dhcp.SetReservation(attachment.EniId, attachment.SubnetId, attachment.MacAddress, attachment.PrimaryIp);
        return Task.CompletedTask;
    }

    public Task DetachAsync(EniAttachment attachment, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            // Forget it first, so the recovery watcher does not plug it back.
            _attached.Remove(attachment.MacAddress);
            _attachedAt.Remove(attachment.EniId);
            // Deleting either end of a veth deletes the pair (drivers/net/veth.c veth_dellink
            // unregisters the peer too): removing the bridge port removes the ENI's device
            // wherever it is now — the instance, a pod, or a temporary netns of a CNI plugin.
            _vpcLinks.TryDeleteLink(LabLayout.VpcPortName(attachment.MacAddress));
        }
        return Task.CompletedTask;
    }

    public Task EniChangedAsync(string eniId, EniSnapshot? eni, CancellationToken cancellationToken)
    {
        _dhcp.SetReservation(eniId, eni?.SubnetId, eni?.MacAddress, eni?.PrimaryIp);
        lock (_gate) MapSecondaryIps(eniId, eni);
        return Task.CompletedTask;
    }

    /// <summary>
    /// A VPC knows which ENI holds each address and answers ARP for the subnet itself: no host
    /// answers ARP for a secondary IP that a pod behind a veth holds (AWS VPC CNI relies on this).
    /// The router does the same here: proxy ARP on the subnet's bridge, to the very port that asked
    /// (proxy_arp_pvlan), at once (proxy_delay 0, not the default 0–0.8 s), and no ICMP redirects
    /// that would teach hosts to go around it; it then forwards to the owning ENI's MAC through a
    /// permanent neighbour per secondary IP (<see cref="MapSecondaryIps"/>).
    /// </summary>
    private void ActAsTheVpcsArpResponder(string bridgeName)
    {
        (string Key, string Value)[] settings =
        [
            ($"net/ipv4/conf/{bridgeName}/proxy_arp", "1"),
            ($"net/ipv4/conf/{bridgeName}/proxy_arp_pvlan", "1"),
            ($"net/ipv4/neigh/{bridgeName}/proxy_delay", "0"),
            ($"net/ipv4/conf/{bridgeName}/send_redirects", "0"),
            ("net/ipv4/conf/all/send_redirects", "0"),
        ];
        foreach (var (key, value) in settings) Netns.WriteSysctl(_vpc, key, value);
    }

    /// <summary>The router's permanent neighbours for <paramref name="eniId"/>'s secondary IPs follow its assignments.</summary>
    private void MapSecondaryIps(string eniId, EniSnapshot? eni)
    {
        (int BridgeIndex, IPAddress[] Ips) wanted = eni is not null && _subnets.TryGetValue(eni.SubnetId, out var port)
            ? (port.BridgeIndex, eni.SecondaryIps.ToArray())
            : (0, []);
        if (_secondaries.TryGetValue(eniId, out var had))
            foreach (var ip in had.Ips.Where(ip => !wanted.Ips.Contains(ip)))
                TryRun(() => _vpcLinks.DeleteNeighbor(new Neighbor { Index = had.BridgeIndex, Ip = ip }));
        foreach (var ip in wanted.Ips)
            _vpcLinks.ReplaceNeighbor(new Neighbor { Index = wanted.BridgeIndex, Ip = ip, Mac = eni!.MacAddress });
        if (wanted.Ips.Length == 0) _secondaries.Remove(eniId);
        else _secondaries[eniId] = wanted;
    }

    private static void TryRun(Action action)
    {
        try
        {
            action();
        }
        catch (NetlinkException e) when (e.IsNotFound)
        {
        }
    }

    /// <summary>
    /// The recovery rule (issue 4 §4): a real NIC whose netns is destroyed falls back to the
    /// host, but a veth dies with its netns. When an attached ENI's bridge port vanished
    /// without a detach, plug it back into its instance with the same MAC and name.
    /// </summary>
    /// <returns>The ENI plugged back, or null when the link was not an attached ENI's or still exists.</returns>
    public string? RecoverIfLost(string vpcPortName)
    {
        var mac = LabLayout.MacOfVpcPort(vpcPortName);
        if (mac is null) return null;
        lock (_gate)
        {
            if (!_attached.TryGetValue(mac, out var attachment)) return null;
            if (_vpcLinks.TryGetLink(vpcPortName, out _)) return null;
            var netns = _instanceNetns[attachment.InstanceId];
            // The attach time stays: to IMDS and the API it is the same attachment as before.
            Plug(attachment, netns);
            return attachment.EniId;
        }
    }

    /// <summary>
    /// The same rule for every attached ENI: a safety net for link events the watcher missed
    /// (a netlink socket drops notifications when its buffer overflows: ENOBUFS).
    /// </summary>
    public IReadOnlyList<string> RecoverAllLost()
    {
        List<PhysicalAddress> macs;
        lock (_gate) macs = [.. _attached.Keys];
        var recovered = new List<string>();
        foreach (var mac in macs)
            if (RecoverIfLost(LabLayout.VpcPortName(mac)) is { } eni) recovered.Add(eni);
        return recovered;
    }

    /// <summary>Creates the ENI's veth: <c>eth{idx}</c> in the instance, <c>v{mac}</c> on the subnet bridge.</summary>
    private void Plug(EniAttachment attachment, string instanceNetns)
    {
        if (!_subnets.TryGetValue(attachment.SubnetId, out var subnet))
            throw new InvalidOperationException($"subnet {attachment.SubnetId} is not realized in this lab");
        var port = LabLayout.VpcPortName(attachment.MacAddress);
        var device = LabLayout.DeviceName(attachment.DeviceIndex);
        using var instance = Netns.Open(instanceNetns);
        _vpcLinks.TryDeleteLink(port); // a leftover from a crash would make the create fail
        // The peer is created directly inside the instance under its final name, as a NIC
        // hot-plugged by a hypervisor appears: nothing in between can race on the name.
        var link = _vpcLinks.CreateVeth(port, device, instance, new VethOptions
        {
            Mtu = LabLayout.FabricMtu,
            PeerMac = attachment.MacAddress,
        });
        try
        {
            _vpcLinks.SetLinkMaster(link.Index, subnet.BridgeIndex);
            _vpcLinks.SetLinkUp(link.Index);
            if (attachment.DeviceIndex == 0)
                ConfigurePrimary(instance, device, attachment.PrimaryIp, subnet);
        }
        catch
        {
            // All or nothing: EC2 rolls the attach back when the fabric fails (IVpcFabric).
            _vpcLinks.TryDeleteLink(port);
            throw;
        }
        Log($"plugged {attachment.EniId} ({InterfaceNames.FormatMac(attachment.MacAddress)}) into {instanceNetns} as {device}");
    }

    /// <summary>
    /// What an AMI's network scripts do at boot for the primary ENI: its address, up, a default
    /// route via the subnet's router, and IMDS (169.254.169.254) via the router too.
    /// </summary>
    private static void ConfigurePrimary(NetnsHandle instance, string device, IPAddress ip, SubnetPort subnet)
    {
        using var links = NetlinkHandle.OpenIn(instance);
        if (links.TryGetLink("lo", out var lo) && !lo.IsUp) links.SetLinkUp(lo.Index);
        var eth = links.GetLink(device);
        links.AddAddress(eth.Index, new IpPrefix(ip, subnet.Cidr.PrefixLength));
        links.SetLinkUp(eth.Index);
        links.AddRoute(new Route { Gateway = subnet.Gateway, OutputIndex = eth.Index });
        links.AddRoute(new Route { Destination = IpPrefix.Host(LabLayout.ImdsAddress), Gateway = subnet.Gateway, OutputIndex = eth.Index });
    }

    public void Dispose() => _vpcLinks.Dispose();
}
