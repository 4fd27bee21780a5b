using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Numerics;

namespace Fathom.Cloud.Host;

/// <summary>What a DHCP server gave a host NIC: its address, subnet and router.</summary>
/// <param name="Address">The leased address.</param>
/// <param name="Subnet">The subnet (from option 1, subnet mask).</param>
/// <param name="Gateway">The first router of option 3; the subnet's first host when the server sends none.</param>
public sealed record DhcpLease(IPAddress Address, IPNetwork Subnet, IPAddress Gateway)
{
    /// <summary>
    /// Parses the line the agent's dhclient-script writes on BOUND:
    /// <c>new_ip_address new_subnet_mask new_routers…</c>, e.g. <c>10.1.0.20 255.255.255.0 10.1.0.1</c>.
    /// </summary>
    /// <exception cref="FormatException">Not such a line (no address, a mask that is not contiguous).</exception>
    public static DhcpLease Parse(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (fields.Length < 2
            || !IPAddress.TryParse(fields[0], out var address) || address.AddressFamily != AddressFamily.InterNetwork
            || !IPAddress.TryParse(fields[1], out var mask) || mask.AddressFamily != AddressFamily.InterNetwork)
            throw new FormatException($"not a DHCP lease: '{line.Trim()}'");
        var bits = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(mask.GetAddressBytes());
        var prefix = BitOperations.PopCount(bits);
        if (prefix is 0 or > 30 || bits != uint.MaxValue << (32 - prefix))
            throw new FormatException($"DHCP lease of {address} has the subnet mask {mask}, not a usable contiguous one");
        var network = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(address.GetAddressBytes()) & bits;
        var networkBytes = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(networkBytes, network);
        var subnet = new IPNetwork(new IPAddress(networkBytes), prefix);
        var gateway = fields.Length > 2 && IPAddress.TryParse(fields[2], out var router) && subnet.Contains(router)
            ? router
            : SubnetInfo.GatewayOf(subnet);
        return new DhcpLease(address, subnet, gateway);
    }
}

/// <summary>
/// Leases an address for a host NIC with ISC dhclient, in the agent's namespace, without
/// configuring anything: the agent's own dhclient-script only writes the lease down (the address
/// belongs to the pod that will get the NIC, not to the node), and the client is stopped once it
/// has the lease, so no process holds the NIC when it moves into a pod. The server's reservation
/// by MAC (the lab's DHCP, a hypervisor's) gives the same address again after a restart.
/// </summary>
internal sealed class Dhclient(string workDirectory, TimeSpan timeout)
{
    /// <summary>Asks for a lease on <paramref name="device"/> (up, in the calling thread's namespace).</summary>
    /// <exception cref="CloudException">Transient: no lease within the time-out, or dhclient could not run.</exception>
    public DhcpLease Acquire(string device)
    {
        Directory.CreateDirectory(workDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var conf = Path.Combine(workDirectory, "dhclient.conf");
        var script = Path.Combine(workDirectory, "dhclient-script");
        WriteFiles(conf, script);
        var leases = Path.Combine(workDirectory, device + ".leases");
        var pid = Path.Combine(workDirectory, device + ".pid");
        var output = Path.Combine(workDirectory, device + ".lease");
        File.Delete(output);
        // dhclient resolves the lease file's realpath at start and exits when it does not exist.
        File.WriteAllBytes(leases, []);
        try
        {
            var (exit, text) = Run(["-1", "-cf", conf, "-sf", script, "-lf", leases, "-pf", pid, device], timeout + TimeSpan.FromSeconds(5));
            if (exit != 0 || !File.Exists(output))
                throw new CloudException(CloudErrorKind.Transient, "HostNicDhcpTimeout",
                    $"no DHCP lease for {device} within {timeout.TotalSeconds:0.#} s (dhclient exit {exit}{(text.Length > 0 ? ": " + text.Trim() : "")})");
            try
            {
                return DhcpLease.Parse(File.ReadAllText(output));
            }
            catch (FormatException e)
            {
                throw new CloudException(CloudErrorKind.Invalid, "HostNicDhcpLease", $"{device}: {e.Message}");
            }
        }
        finally
        {
            // -1 leaves a daemon renewing the lease: stop it (-x: without releasing the address).
            Run(["-x", "-cf", conf, "-sf", script, "-lf", leases, "-pf", pid], TimeSpan.FromSeconds(10));
            File.Delete(pid);
        }
    }

    private void WriteFiles(string conf, string script)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(timeout.TotalSeconds));
        File.WriteAllText(conf, $"""
            # fathom-agent (cloud.host): fail within the configured time, ask only what a pod needs (dhclient.conf(5)).
            timeout {seconds.ToString(CultureInfo.InvariantCulture)};
            retry 1;
            initial-interval 1;
            request subnet-mask, routers;

            """);
        // Never configures the node: the lease goes to the pod that gets the NIC (cloud.host in docs/agent.md).
        File.WriteAllText(script, $$"""
            #!/bin/sh
            # fathom-agent dhclient-script: write the lease down, configure nothing.
            case "$reason" in
              PREINIT) ip link set dev "$interface" up ;;
              BOUND|RENEW|REBIND|REBOOT)
                printf '%s %s %s\n' "$new_ip_address" "$new_subnet_mask" "$new_routers" > "{{workDirectory}}/$interface.lease.tmp" &&
                  mv "{{workDirectory}}/$interface.lease.tmp" "{{workDirectory}}/$interface.lease" ;;
            esac
            exit 0

            """);
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private static (int ExitCode, string Output) Run(IEnumerable<string> args, TimeSpan limit)
    {
        var psi = new ProcessStartInfo("dhclient") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("no process");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new CloudException(CloudErrorKind.Invalid, "HostNicDhcpClient", $"cannot run dhclient (install isc-dhcp-client): {e.Message}");
        }
        using (process)
        using (var stdoutReader = process.StandardOutput)
        using (var stderrReader = process.StandardError)
        {
            var stdout = stdoutReader.ReadToEndAsync();
            var stderr = stderrReader.ReadToEndAsync();
            if (!process.WaitForExit(limit))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return (-1, $"timed out after {limit.TotalSeconds:0} s");
            }
            process.WaitForExit();
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }
}
