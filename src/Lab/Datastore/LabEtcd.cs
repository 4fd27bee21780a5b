using System.Diagnostics;

namespace Fathom.Lab.Datastore;

/// <summary>One member of the lab's etcd cluster, as lab.json records it.</summary>
/// <param name="Name">etcd1, etcd2, etcd3.</param>
/// <param name="Pid">Its process (inside the VPC netns), or 0 when not running.</param>
/// <param name="ClientUrl">Where agents reach it, inside the VPC (http://10.0.0.1:2379).</param>
/// <param name="PeerUrl">Where the other members reach it.</param>
/// <param name="DataDirectory">Its data, under the lab's state directory.</param>
public sealed record LabEtcdMember(string Name, int Pid, string ClientUrl, string PeerUrl, string DataDirectory);

/// <summary>
/// <c>lab up --datastore etcd</c> (issue 10 §1): a 3-member etcd cluster (Debian's etcd-server) for
/// the host-gw and overlay modes' leases, run inside the lab's VPC netns on the VPC's router address
/// (which every node reaches, as it reaches the EC2 endpoint), data under the lab's state directory.
/// <c>lab down</c> removes it with the rest: it kills every process in the lab's namespaces and deletes
/// the state directory. Members can be killed and started again on their data, as the tests do.
/// </summary>
public static class LabEtcd
{
    /// <summary>How many members the lab's cluster has: the smallest that survives losing one.</summary>
    public const int Size = 3;

    /// <summary>The members of a lab whose VPC router is <paramref name="routerIp"/> (not running yet: pid 0).</summary>
    public static IReadOnlyList<LabEtcdMember> Plan(LabLayout layout, string routerIp) =>
        [.. Enumerable.Range(0, Size).Select(i => new LabEtcdMember($"etcd{i + 1}", 0,
            $"http://{routerIp}:{2379 + 10000 * i}", $"http://{routerIp}:{2380 + 10000 * i}",
            Path.Combine(layout.StateDirectory, "etcd", $"etcd{i + 1}")))];

    /// <summary>Starts every member; returns them with their pids. Throws when etcd is not installed.</summary>
    public static IReadOnlyList<LabEtcdMember> Start(LabLayout layout, string vpcNetns, string routerIp, Action<string>? log = null)
    {
        var members = Plan(layout, routerIp);
        var started = members.Select(m => m with { Pid = StartMember(vpcNetns, m, members) }).ToList();
        log?.Invoke($"etcd: {string.Join(", ", started.Select(m => $"{m.Name} pid {m.Pid} at {m.ClientUrl}"))}");
        return started;
    }

    /// <summary>
    /// Starts <paramref name="member"/> (again) on its data directory inside the VPC netns; returns its
    /// pid. A member restarted on its data rejoins and catches up from the others (raft).
    /// </summary>
    public static int StartMember(string vpcNetns, LabEtcdMember member, IReadOnlyList<LabEtcdMember> all)
    {
        var etcd = FindEtcd() ?? throw new InvalidOperationException(
            "lab up --datastore etcd needs the 'etcd' binary (Debian's etcd-server: scripts/prereqs.sh installs it)");
        // 0700: etcd refuses to trust a data directory others can read (it warns, then may refuse).
        Directory.CreateDirectory(member.DataDirectory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false };
        var client = new Uri(member.ClientUrl).GetLeftPart(UriPartial.Authority);
        foreach (var arg in new[]
        {
            "netns", "exec", vpcNetns, etcd,
            "--name", member.Name, "--data-dir", member.DataDirectory,
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", member.PeerUrl, "--initial-advertise-peer-urls", member.PeerUrl,
            "--initial-cluster", string.Join(',', all.Select(m => $"{m.Name}={m.PeerUrl}")),
            "--initial-cluster-state", "new", "--initial-cluster-token", "fathom-lab",
            // Elections in about a second: the lab's tests kill members and wait for the rest to notice.
            "--heartbeat-interval", "100", "--election-timeout", "1000",
            "--logger", "zap", "--log-outputs", member.DataDirectory + ".log", "--log-level", "warn",
        })
            psi.ArgumentList.Add(arg);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {member.Name}");
        // `ip netns exec` execs etcd: the pid is etcd's own.
        return process.Id;
    }

    /// <summary>etcd on PATH or where Debian puts it.</summary>
    public static string? FindEtcd()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin").Split(':').Append("/usr/bin"))
        {
            var candidate = Path.Combine(dir, "etcd");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
