using System.Security.Cryptography;

namespace Fathom.Testing;

/// <summary>
/// A named network namespace made for one test with iproute2 (independent of the code under
/// test) and removed on dispose, even when the test failed. Every name starts with
/// <see cref="Prefix"/> so ./test.sh can sweep whatever a killed test run left behind.
/// </summary>
public sealed class TestNetns : IDisposable
{
    /// <summary>
    /// Common prefix of every namespace a test makes: <c>ftest-</c>, or <c>FATHOM_TEST_NETNS_PREFIX</c>
    /// when set, so that two suites running at once on one machine (and ./test.sh's sweep of
    /// leftovers) never touch each other's namespaces.
    /// </summary>
    public static string Prefix { get; } = Environment.GetEnvironmentVariable("FATHOM_TEST_NETNS_PREFIX") is { Length: > 0 } p ? p : "ftest-";

    public string Name { get; }
    public string Path => "/run/netns/" + Name;

    private TestNetns(string name) => Name = name;

    /// <summary>Creates <c>ftest-{area}-{random}</c> with loopback up. Names stay ≤ 15 chars is not required for netns.</summary>
    public static TestNetns Create(string area)
    {
        var name = $"{Prefix}{area}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        Shell.Ip("netns", "add", name);
        try { Shell.IpIn(name, "link", "set", "lo", "up"); }
        catch { Shell.Run("ip", ["netns", "del", name]); throw; }
        return new TestNetns(name);
    }

    public void Dispose()
    {
        // Kill anything a test left running in the namespace, then delete it.
        var pids = Shell.Run("ip", ["netns", "pids", Name]);
        foreach (var line in pids.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (int.TryParse(line, out var pid))
                try { System.Diagnostics.Process.GetProcessById(pid).Kill(); } catch (ArgumentException) { } catch (InvalidOperationException) { }
        Shell.Run("ip", ["netns", "del", Name]);
    }

    public override string ToString() => Name;
}
