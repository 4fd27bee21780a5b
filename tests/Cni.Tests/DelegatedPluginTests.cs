using System.Diagnostics;

namespace Fathom.Cni.Tests;

/// <summary>
/// Running a delegated plugin: a plugin that hangs is killed after the time-out, with what it
/// started, and reported as a CNI error naming it (a runtime would otherwise wait on fathom
/// until it killed it, leaving the plugin orphaned).
/// </summary>
public sealed class DelegatedPluginTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("fathom-cni-delegate-");

    public void Dispose()
    {
        // Whatever the test's outcome, nothing it started keeps running.
        foreach (var pid in Pids()) KillIfAlive(pid);
        _dir.Delete(recursive: true);
    }

    private string PidFile => Path.Combine(_dir.FullName, "pids");

    private IEnumerable<int> Pids() => File.Exists(PidFile)
        ? File.ReadAllLines(PidFile).Where(l => l.Length > 0).Select(int.Parse)
        : [];

    private DelegatedPlugin Plugin(string name, string script, TimeSpan timeout)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, "#!/bin/sh\n" + script);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return DelegatedPlugin.Find(name, [_dir.FullName], new Dictionary<string, string>(), timeout);
    }

    [Fact]
    public void A_hung_plugin_and_its_children_are_killed_after_the_timeout_with_error_106()
    {
        // The shell and a child of its own (as a plugin waiting on a helper would have), neither reading stdin.
        // 6 s: time enough for the script to record both PIDs even on a loaded machine.
        var plugin = Plugin("hung-ipam", $"echo $$ >> {PidFile}\nsleep 300 &\necho $! >> {PidFile}\nwait\n", TimeSpan.FromSeconds(6));
        var clock = Stopwatch.StartNew();
        var e = Assert.Throws<CniException>(() => plugin.Run(CniCommand.Add, """{"cniVersion":"1.0.0"}"""u8));
        Assert.Equal(CniErrorCode.IpamFailure, e.Code);
        Assert.Contains("\"hung-ipam\" did not finish ADD within 6 s and was killed", e.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");

        var pids = Pids().ToList();
        Assert.Equal(2, pids.Count);
        foreach (var pid in pids)
            Assert.True(Gone(pid), $"process {pid} of the hung plugin is still running");
    }

    [Fact]
    public void A_plugin_that_never_reads_a_large_stdin_still_times_out()
    {
        // More than a pipe holds (64 KiB): a blocking write would never return.
        var plugin = Plugin("deaf-ipam", $"echo $$ >> {PidFile}\nexec sleep 300\n", TimeSpan.FromSeconds(1));
        var config = System.Text.Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.0.0","pad":"{{new string('x', 256 * 1024)}}"}""");
        var e = Assert.Throws<CniException>(() => plugin.Run(CniCommand.Del, config));
        Assert.Equal(CniErrorCode.IpamFailure, e.Code);
        Assert.Contains("did not finish DEL", e.Message);
        Assert.All(Pids(), pid => Assert.True(Gone(pid), $"process {pid} is still running"));
    }

    [Fact]
    public void A_plugin_that_answers_in_time_is_not_affected()
    {
        var plugin = Plugin("quick-ipam", "cat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'\n", TimeSpan.FromSeconds(30));
        var output = plugin.Run(CniCommand.Add, """{"cniVersion":"1.0.0"}"""u8);
        Assert.Contains("\"ips\"", System.Text.Encoding.UTF8.GetString(output));
    }

    [Fact]
    public void A_plugin_file_still_open_for_writing_is_run_once_the_writer_closes_it()
    {
        // What an installer copying a new binary into CNI_PATH does, and what a child forked by
        // another thread does while it holds an inherited write fd: exec fails with ETXTBSY.
        var plugin = Plugin("busy-ipam", "cat >/dev/null\necho '{\"cniVersion\":\"1.0.0\",\"ips\":[]}'\n", TimeSpan.FromSeconds(30));
        var writer = new FileStream(plugin.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        var backOffs = new List<TimeSpan>();
        plugin.BackOff = delay => { backOffs.Add(delay); writer.Dispose(); }; // the writer is done at the first back-off
        var output = plugin.Run(CniCommand.Add, """{"cniVersion":"1.0.0"}"""u8);
        Assert.Contains("\"ips\"", System.Text.Encoding.UTF8.GetString(output));
        Assert.Equal([TimeSpan.FromMilliseconds(10)], backOffs);
    }

    [Fact]
    public void A_plugin_file_that_stays_open_for_writing_is_an_error_naming_it()
    {
        var plugin = Plugin("stuck-ipam", "echo '{}'\n", TimeSpan.FromSeconds(30));
        using var writer = new FileStream(plugin.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        var backOffs = new List<TimeSpan>();
        plugin.BackOff = backOffs.Add;
        var e = Assert.Throws<CniException>(() => plugin.Run(CniCommand.Add, """{"cniVersion":"1.0.0"}"""u8));
        Assert.Equal(CniErrorCode.IpamFailure, e.Code);
        Assert.Contains("cannot run plugin \"stuck-ipam\"", e.Message);
        Assert.Contains("Text file busy", e.Details);
        Assert.Equal(DelegatedPlugin.TextFileBusyBackoff, backOffs); // every back-off, then the error
    }

    // SIGKILL is delivered at once but the exit takes a moment; the plugin's own children are not
    // fathom's to wait for, so give them a few seconds.
    private static bool Gone(int pid)
    {
        var clock = Stopwatch.StartNew();
        while (IsAlive(pid))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10)) return false;
            Thread.Sleep(20);
        }
        return true;
    }

    // A zombie (dead, not yet reaped) counts as gone: it runs nothing and holds no lock.
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
    }

    private static void KillIfAlive(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            if (IsAlive(pid)) p.Kill();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
        }
    }
}
