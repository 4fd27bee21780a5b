using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Fathom.Datastore.Embedded;
using Fathom.Datastore.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Fathom.Datastore.Tests.Embedded;

/// <summary>What only the file store has to get right: its files, torn writes, a lock holder that dies.</summary>
public sealed class EmbeddedStoreTests : IDisposable
{
    private static readonly SubnetPool Pool = SubnetPool.Parse("10.244.0.0/16", 24);
    private readonly string _directory = Directory.CreateTempSubdirectory("fathom-datastore-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero));
    private readonly ListLogger _log = new();

    private string Leases => Path.Combine(_directory, "leases");

    private Task<EmbeddedSubnetLeaseStore> OpenAsync() =>
        EmbeddedSubnetLeaseStore.OpenAsync(new EmbeddedStoreOptions(_directory) { LockTimeout = TimeSpan.FromSeconds(20) }, Pool, _time, _log);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_lease_is_one_json_file_named_by_its_subnet()
    {
        await using var store = await OpenAsync();
        await store.AcquireOrRenewAsync(new NodeAttributes("a", IPAddress.Parse("192.168.0.1")));
        var file = Assert.Single(Directory.GetFiles(Leases));
        Assert.Equal("10.244.0.0-24.json", Path.GetFileName(file));
        using var json = JsonDocument.Parse(File.ReadAllBytes(file));
        Assert.Equal("10.244.0.0/24", json.RootElement.GetProperty("subnet").GetString());
        Assert.Equal("a", json.RootElement.GetProperty("node").GetString());
        Assert.Equal("192.168.0.1", json.RootElement.GetProperty("nodeIp").GetString());
        Assert.Equal((_time.GetUtcNow() + store.Ttl).ToUnixTimeMilliseconds(), json.RootElement.GetProperty("expiresUnixMs").GetInt64());
    }

    [Fact]
    public async Task A_torn_or_foreign_lease_file_is_logged_and_quarantined_never_fatal()
    {
        await using var store = await OpenAsync();
        File.WriteAllText(Path.Combine(Leases, "10.244.0.0-24.json"), """{"subnet":"10.244.0.0/24","node":"a","nodeI""");
        File.WriteAllText(Path.Combine(Leases, "10.244.1.0-24.json"), """{"subnet":"10.244.7.0/24","node":"b","nodeIp":"192.168.0.2","expiresUnixMs":1}""");

        Assert.Empty(await store.ListAsync()); // readers skip them
        Assert.Equal(2, _log.Lines.Count(l => l.Contains("ignoring", StringComparison.Ordinal)));

        var lease = await store.AcquireOrRenewAsync(new NodeAttributes("c", IPAddress.Parse("192.168.0.3")));
        Assert.Equal(Pool[0], lease.Subnet);
        Assert.Equal(2, Directory.GetFiles(Path.Combine(_directory, "quarantine")).Length);
        Assert.Equal(2, _log.Lines.Count(l => l.Contains("moved to", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_temporary_file_left_by_an_agent_killed_mid_write_is_ignored_then_removed()
    {
        await using var store = await OpenAsync();
        var left = Path.Combine(Leases, ".10.244.0.0-24.4242.0123456789abcdef.tmp");
        File.WriteAllText(left, """{"subnet":"10.244.0.0/24","no""");

        Assert.Empty(await store.ListAsync());
        await store.AcquireOrRenewAsync(new NodeAttributes("a", IPAddress.Parse("192.168.0.1")));
        Assert.False(File.Exists(left));
        Assert.Empty(_log.Lines);
    }

    [PrivilegedFact("flock")]
    public async Task The_lock_of_an_agent_SIGKILLed_while_holding_it_is_released_by_the_kernel()
    {
        await using var store = await OpenAsync();
        // A process that holds the allocation lock as an agent would, then dies holding it.
        var holder = Process.Start(new ProcessStartInfo("bash")
        {
            ArgumentList = { "-c", $"exec 9>>'{Path.Combine(_directory, ".lock")}' && flock -x 9 && touch '{_directory}/held' && exec sleep 60" },
        })!;
        try
        {
            Eventually.True(() => File.Exists(Path.Combine(_directory, "held")), "the other process to hold the lock");
            var acquire = store.AcquireOrRenewAsync(new NodeAttributes("a", IPAddress.Parse("192.168.0.1")));
            await Task.Delay(300);
            Assert.False(acquire.IsCompleted, "the store waits for the lock");

            holder.Kill();
            Assert.Equal(Pool[0], (await acquire.WaitAsync(TimeSpan.FromSeconds(15))).Subnet);
        }
        finally
        {
            if (!holder.HasExited) holder.Kill();
            holder.Dispose();
        }
    }

    [Fact]
    public async Task Agents_SIGKILLed_while_writing_leave_no_torn_lease_and_no_stuck_lock()
    {
        // Three agents renew as fast as they can and are killed at seeded-random moments, mid-write
        // for the most part (a renewal is mostly writing); the survivors' view must stay whole.
        var random = new Random(20261206);
        var writers = await LeaseWriterProcess.StartAsync(_directory, "w0", "w1", "w2");
        try
        {
            foreach (var w in writers)
            {
                await Task.Delay(random.Next(5, 60));
                w.Kill(); // SIGKILL
            }
        }
        finally
        {
            LeaseWriterProcess.Stop(writers);
        }

        await using var store = await OpenAsync();
        var live = await store.ListAsync();
        Assert.Equal(["w0", "w1", "w2"], live.Select(l => l.Node.NodeName).Order());
        Assert.Equal(3, live.Select(l => l.Subnet).Distinct().Count());
        Assert.DoesNotContain(_log.Lines, l => l.Contains("ignoring", StringComparison.Ordinal));
        // The lock is free and the killed agents' dot-files go at the next write.
        await store.AcquireOrRenewAsync(new NodeAttributes("after", IPAddress.Parse("192.168.0.9")));
        Assert.Empty(Directory.GetFiles(Leases, ".*"));
        Assert.Empty(Directory.GetFiles(Path.Combine(_directory, "quarantine")));
    }
}
