using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Fathom.Datastore.Tests.Support;

/// <summary>
/// A real etcd cluster of n members on 127.0.0.1 (Debian's etcd-server), for the tests: ports the
/// kernel says are free, data in a temporary directory removed at disposal, and every process it
/// started killed by its pid at disposal, whatever the test's outcome. Members can be killed
/// (SIGKILL) and restarted on their data.
/// </summary>
public sealed class EtcdCluster : IAsyncDisposable
{
    private readonly string _root;
    private readonly Member[] _members;
    private readonly string _etcd;

    private sealed record Member(string Name, int ClientPort, int PeerPort)
    {
        public Process? Process { get; set; }
        public Uri ClientUrl => new($"http://127.0.0.1:{ClientPort}/");
        public string PeerUrl => $"http://127.0.0.1:{PeerPort}";
    }

    private EtcdCluster(string etcd, int size)
    {
        _etcd = etcd;
        _root = Directory.CreateTempSubdirectory("fathom-etcd-").FullName;
        var ports = FreePorts(size * 2);
        _members = [.. Enumerable.Range(0, size).Select(i => new Member($"m{i + 1}", ports[2 * i], ports[2 * i + 1]))];
    }

    /// <summary>The members' client URLs, in member order.</summary>
    public IReadOnlyList<Uri> Endpoints => [.. _members.Select(m => m.ClientUrl)];

    /// <summary>Starts the members and waits until every one is healthy (has a leader).</summary>
    public static async Task<EtcdCluster> StartAsync(int size = 3)
    {
        // etcd needs no root: only the binary. Missing, this fails (never skips), in CI and out.
        var etcd = Privileged.FindTool("etcd")
            ?? throw new InvalidOperationException("the etcd tests need 'etcd' on PATH: scripts/prereqs.sh installs it (Debian's etcd-server)");
        var cluster = new EtcdCluster(etcd, size);
        try
        {
            for (var i = 0; i < size; i++) cluster.Start(i);
            for (var i = 0; i < size; i++) await cluster.WaitHealthyAsync(i);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILLs member <paramref name="index"/> and waits for it to be gone.</summary>
    public void Kill(int index)
    {
        var p = _members[index].Process ?? throw new InvalidOperationException($"{_members[index].Name} is not running");
        p.Kill();
        p.WaitForExit();
        p.Dispose();
        _members[index].Process = null;
    }

    /// <summary>Starts member <paramref name="index"/> again on its data directory.</summary>
    public void Restart(int index) => Start(index);

    /// <summary>Waits until member <paramref name="index"/> answers /health with a leader.</summary>
    public async Task WaitHealthyAsync(int index, TimeSpan? timeout = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var url = new Uri(_members[index].ClientUrl, "health");
        await Eventually.TrueAsync(async () =>
        {
            if (_members[index].Process is { HasExited: true } p)
                throw new InvalidOperationException($"etcd {_members[index].Name} exited with {p.ExitCode}: {Tail(index)}");
            try
            {
                return (await http.GetStringAsync(url)).Contains("\"true\"", StringComparison.Ordinal);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, $"etcd {_members[index].Name} healthy at {url}", timeout ?? TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));
    }

    private void Start(int index)
    {
        var m = _members[index];
        if (m.Process is not null) throw new InvalidOperationException($"{m.Name} is running");
        var initial = string.Join(',', _members.Select(x => $"{x.Name}={x.PeerUrl}"));
        var psi = new ProcessStartInfo(_etcd)
        {
            RedirectStandardOutput = false,
            RedirectStandardError = false,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
        {
            "--name", m.Name, "--data-dir", Path.Combine(_root, m.Name),
            "--listen-client-urls", m.ClientUrl.GetLeftPart(UriPartial.Authority), "--advertise-client-urls", m.ClientUrl.GetLeftPart(UriPartial.Authority),
            "--listen-peer-urls", m.PeerUrl, "--initial-advertise-peer-urls", m.PeerUrl,
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", Path.GetFileName(_root),
            // Fast elections: the tests kill members and wait for the rest to notice.
            "--heartbeat-interval", "50", "--election-timeout", "500",
            "--logger", "zap", "--log-outputs", Path.Combine(_root, m.Name + ".log"), "--log-level", "warn",
        })
            psi.ArgumentList.Add(arg);
        m.Process = Process.Start(psi) ?? throw new InvalidOperationException("etcd did not start");
    }

    private string Tail(int index)
    {
        var log = Path.Combine(_root, _members[index].Name + ".log");
        return File.Exists(log) ? string.Join('\n', File.ReadLines(log).TakeLast(5)) : "(no log)";
    }

    /// <summary>Ports the kernel hands out as free (bound, then released just before etcd binds them).</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    public ValueTask DisposeAsync()
    {
        foreach (var m in _members)
        {
            if (m.Process is not { } p) continue;
            try
            {
                if (!p.HasExited) p.Kill();
                p.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
            m.Process = null;
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}
