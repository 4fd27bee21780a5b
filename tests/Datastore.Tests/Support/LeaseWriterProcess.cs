using System.Diagnostics;
using System.Net;
using Fathom.Datastore.Embedded;

namespace Fathom.Datastore.Tests.Support;

/// <summary>
/// The test assembly run as a program: <c>dotnet Fathom.Datastore.Tests.dll renew-forever DIR NODE</c>
/// renews NODE's lease in the embedded store at DIR again and again (each renewal rewrites the lease
/// file), so that a test can SIGKILL it in the middle of a write. It ends by itself when its parent
/// goes (stdin closes) and after a minute at most, so a crashed test host leaves nothing running.
/// </summary>
public static class LeaseWriterProcess
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);

    public static async Task<int> Main(string[] args)
    {
        if (args is not ["renew-forever", var directory, var node]) return 2;
        _ = Task.Run(() =>
        {
            Console.In.ReadToEnd();
            Environment.Exit(3);
        });
        using var lifetime = new CancellationTokenSource(Lifetime);
        await using var store = await EmbeddedSubnetLeaseStore.OpenAsync(new EmbeddedStoreOptions(directory), SubnetPool.Parse("10.244.0.0/16", 24));
        var attributes = new NodeAttributes(node, IPAddress.Parse("192.168.0.1"));
        await store.AcquireOrRenewAsync(attributes);
        Console.WriteLine("renewing"); // the parent waits for this line
        while (!lifetime.IsCancellationRequested)
        {
            await store.AcquireOrRenewAsync(attributes);
            await Task.Delay(1); // as agents do not renew back to back: the others get the lock too
        }
        return 0;
    }

    /// <summary>Starts writers for <paramref name="nodes"/> together and waits until each holds its lease.</summary>
    public static async Task<List<Process>> StartAsync(string directory, params string[] nodes)
    {
        var started = new List<Process>();
        try
        {
            foreach (var node in nodes) started.Add(Launch(directory, node));
            foreach (var (p, node) in started.Zip(nodes))
            {
                var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                if (line != "renewing")
                    throw new InvalidOperationException($"the lease writer for {node} did not start: {(p.HasExited ? $"exit {p.ExitCode}" : "running")}, {await p.StandardError.ReadToEndAsync()}");
            }
            return started;
        }
        catch
        {
            Stop(started);
            throw;
        }
    }

    /// <summary>SIGKILLs and reaps every writer still running.</summary>
    public static void Stop(IEnumerable<Process> writers)
    {
        foreach (var w in writers)
        {
            try
            {
                if (!w.HasExited) w.Kill();
                w.WaitForExit();
            }
            catch (InvalidOperationException)
            {
            }
            w.Dispose();
        }
    }

    private static Process Launch(string directory, string node)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, // closed when this process dies: the writer's cue to end
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "exec", typeof(LeaseWriterProcess).Assembly.Location, "renew-forever", directory, node }) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }
}
