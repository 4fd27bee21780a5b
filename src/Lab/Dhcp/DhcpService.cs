using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using Fathom.Netlink;

namespace Fathom.Lab.Dhcp;

/// <summary>
/// DHCP for the VPC: one dnsmasq per subnet inside the VPC netns, bound to that subnet's
/// bridge, handing out only reserved addresses (ENI MAC → primary IP), as a VPC's DHCP does.
/// Reservations live in a hosts file that dnsmasq re-reads on SIGHUP (dnsmasq(8),
/// --dhcp-hostsfile), so attaching or re-addressing an ENI never restarts the server.
/// </summary>
internal sealed class DhcpService : IDisposable
{
    private readonly LabLayout _layout;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SubnetServer> _servers = new(StringComparer.Ordinal);
    // ENI id → (subnet, MAC, primary IP): the reservations, whatever device the ENI is on.
    private readonly Dictionary<string, (string SubnetId, PhysicalAddress Mac, IPAddress Ip)> _reservations = new(StringComparer.Ordinal);

    private sealed record SubnetServer(string HostsFile, Process Process);

    public DhcpService(LabLayout layout) => _layout = layout;

    public IReadOnlyList<int> Pids
    {
        get { lock (_gate) return [.. _servers.Values.Select(s => s.Process.Id)]; }
    }

    /// <summary>Starts dnsmasq for one subnet, in the VPC netns (the child inherits the forking thread's netns).</summary>
    public void StartSubnet(NetnsHandle vpc, string subnetId, string bridge, IPNetwork cidr)
    {
        var hostsFile = Path.Combine(_layout.StateDirectory, $"dhcp-{bridge}.hosts");
        lock (_gate) File.WriteAllText(hostsFile, RenderHostsLocked(subnetId));
        var pidFile = PidFile(bridge);
        File.Delete(pidFile); // a previous server's, left by a SIGKILL: never mistaken for this one's
        var psi = new ProcessStartInfo("dnsmasq") { UseShellExecute = false };
        foreach (var arg in Arguments(bridge, cidr, hostsFile)) psi.ArgumentList.Add(arg);
        // fork() copies the calling thread's namespaces: start it from a thread inside the VPC netns.
        var process = Netns.Run(vpc, () => Process.Start(psi)) ?? throw new InvalidOperationException("cannot start dnsmasq");
        lock (_gate) _servers[subnetId] = new SubnetServer(hostsFile, process);
        WaitUntilServing(process, bridge, pidFile);
    }

    // dnsmasq writes its pid file once its DHCP socket is bound (dnsmasq.c: after the listeners;
    // opening the log and dropping privileges come after it, and fail only on a broken state dir),
    // and exits on a bad option or a taken port: report either here, not
    // as a silent DHCP outage that surfaces later as a dhclient time-out. Polled, not a fixed
    // wait: on a loaded machine dnsmasq may take longer than any short grace to fail or to start.
    private void WaitUntilServing(Process process, string bridge, string pidFile)
    {
        var log = $"see {_layout.StateDirectory}/dnsmasq-{bridge}.log";
        var started = Stopwatch.GetTimestamp();
        while (!process.WaitForExit(20))
        {
            if (File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() == process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))
                return;
            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromSeconds(10))
                throw new InvalidOperationException($"dnsmasq for {bridge} (pid {process.Id}) did not start serving within 10 s ({log})");
        }
        throw new InvalidOperationException($"dnsmasq for {bridge} exited with {process.ExitCode} ({log})");
    }

    private string PidFile(string bridge) => Path.Combine(_layout.StateDirectory, $"dnsmasq-{bridge}.pid");

    /// <summary>The dnsmasq command line for one subnet (pure, for tests).</summary>
    internal IReadOnlyList<string> Arguments(string bridge, IPNetwork cidr, string hostsFile)
    {
        var dir = _layout.StateDirectory;
        return
        [
            "--keep-in-foreground",          // its pid is the one we record and kill
            "--conf-file=/dev/null",          // never the machine's /etc/dnsmasq.conf
            "--port=0",                       // DHCP only: no DNS server (and no DNS option sent)
            $"--interface={bridge}",
            "--bind-interfaces",              // SO_BINDTODEVICE on the DHCP socket: one dnsmasq per bridge can coexist
            "--except-interface=lo",
            $"--dhcp-range={cidr.BaseAddress},static,{PrefixToMask(cidr.PrefixLength)},1h",
            $"--dhcp-hostsfile={hostsFile}",
            "--dhcp-authoritative",
            "--dhcp-rapid-commit",
            $"--dhcp-leasefile={dir}/dnsmasq-{bridge}.leases",
            $"--pid-file={PidFile(bridge)}",
            $"--log-facility={dir}/dnsmasq-{bridge}.log",
            "--log-dhcp",
            "--user=root",                    // the lease file lives in root's state dir
        ];
    }

    /// <summary>Reservation for an ENI (null: the ENI was deleted).</summary>
    public void SetReservation(string eniId, string? subnetId, PhysicalAddress? mac, IPAddress? ip)
    {
        lock (_gate)
        {
            // Secondary-IP changes arrive here too; they leave the reservation as it was, and a
            // reload per change would only cost dnsmasq work at pod churn.
            var unchanged = _reservations.TryGetValue(eniId, out var current)
                ? subnetId == current.SubnetId && Equals(mac, current.Mac) && Equals(ip, current.Ip)
                : subnetId is null;
            if (unchanged) return;
            var touched = new HashSet<string>(StringComparer.Ordinal);
            if (_reservations.Remove(eniId, out var old)) touched.Add(old.SubnetId);
            if (subnetId is not null && mac is not null && ip is not null)
            {
                _reservations[eniId] = (subnetId, mac, ip);
                touched.Add(subnetId);
            }
            foreach (var subnet in touched)
            {
                if (!_servers.TryGetValue(subnet, out var server)) continue;
                AtomicFile.Write(server.HostsFile, Encoding.ASCII.GetBytes(RenderHostsLocked(subnet)));
                if (!server.Process.HasExited) Signal.Send(server.Process.Id, Signal.SIGHUP);
            }
        }
    }

    /// <summary>dnsmasq's hosts file for one subnet: "MAC,IP,name" per reservation.</summary>
    internal string RenderHosts(string subnetId)
    {
        lock (_gate) return RenderHostsLocked(subnetId);
    }

    private string RenderHostsLocked(string subnetId)
    {
        var text = new StringBuilder();
        foreach (var (eni, r) in _reservations.OrderBy(r => r.Key, StringComparer.Ordinal))
            if (r.SubnetId == subnetId)
                text.Append(InterfaceNames.FormatMac(r.Mac)).Append(',').Append(r.Ip).Append(',').Append(eni).Append('\n');
        return text.ToString();
    }

    internal static string PrefixToMask(int prefixLength)
    {
        var mask = prefixLength == 0 ? 0u : uint.MaxValue << (32 - prefixLength);
        return new IPAddress([(byte)(mask >> 24), (byte)(mask >> 16), (byte)(mask >> 8), (byte)mask]).ToString();
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var server in _servers.Values)
            {
                try { if (!server.Process.HasExited) server.Process.Kill(); server.Process.WaitForExit(2000); }
                catch (InvalidOperationException) { }
                server.Process.Dispose();
            }
            _servers.Clear();
        }
    }
}
