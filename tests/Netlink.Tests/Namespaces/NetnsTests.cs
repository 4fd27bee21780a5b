using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Fathom.Netlink.Tests.Namespaces;

/// <summary>
/// Named namespaces, handles and Run, each checked against iproute2 and /proc in fresh
/// namespaces (ftest-ns-*) that are deleted with iproute2 even when a test fails.
/// </summary>
public sealed class NetnsTests
{
    [PrivilegedFact("ip")]
    public void Create_makes_a_namespace_iproute2_lists_and_enters()
    {
        Privileged.Require("ip");
        var name = NewName();
        try
        {
            using var netns = Netns.Create(name);

            Assert.Contains(name, Shell.Ip("netns", "list").Split('\n').Select(l => l.Split(' ')[0]));
            Assert.Contains("\"ifname\":\"lo\"", Shell.IpIn(name, "-j", "link", "show"));
            Assert.True(Netns.Exists(name));
            Assert.True(Netns.Exists($"{Netns.RunDirectory}/{name}")); // by path, as Open takes it too
            Assert.Contains(name, Netns.List());
            // The handle is on the namespace iproute2 enters, and not on ours.
            Assert.Equal(InodeSeenByIpNetnsExec(name), netns.Inode);
            Assert.NotEqual(CurrentThreadInode(), netns.Inode);
        }
        finally
        {
            Shell.Run("ip", ["netns", "del", name]);
        }
    }

    [PrivilegedFact("ip")]
    public void An_anonymous_namespace_has_no_name_and_lives_while_its_handle_does()
    {
        Privileged.Require("ip");
        // Other tests add and delete named namespaces meanwhile, so names are not compared: no name
        // under /run/netns may be bound to this namespace (nothing to delete, or to leave behind). Checked
        // while the handle holds it: once it is gone, another test's new namespace may reuse its inode.
        using (var anonymous = Netns.CreateAnonymous())
        {
            Assert.DoesNotContain(anonymous.Inode, NamedInodes());
            Assert.NotEqual(CurrentThreadInode(), anonymous.Inode);
            using var netlink = NetlinkHandle.OpenIn(anonymous);
            Assert.Equal(["lo"], netlink.ListLinks().Select(l => l.Name));
            netlink.CreateVeth("ta", "tb");
            Assert.Equal(["lo", "ta", "tb"], netlink.ListLinks().Select(l => l.Name).Order());
        }
    }

    // The namespaces named under /run/netns now, by inode; one another test deletes meanwhile is skipped.
    private static HashSet<ulong> NamedInodes()
    {
        var inodes = new HashSet<ulong>();
        foreach (var name in Netns.List())
        {
            try
            {
                using var named = Netns.Open(name);
                inodes.Add(named.Inode);
            }
            catch (NetlinkException)
            {
            }
        }
        return inodes;
    }

    [PrivilegedFact("ip")]
    public void Create_of_an_existing_name_fails_with_EEXIST_naming_it()
    {
        Privileged.Require("ip");
        using var existing = TestNetns.Create("ns");

        var e = Assert.Throws<NetlinkException>(() => Netns.Create(existing.Name));

        Assert.Equal(Errno.EEXIST, e.Error);
        Assert.Contains(existing.Name, e.Message);
        // The namespace that was there is untouched.
        Assert.Contains("\"ifname\":\"lo\"", Shell.IpIn(existing.Name, "-j", "link", "show"));
    }

    [PrivilegedFact("ip")]
    public void Concurrent_creates_keep_one_shared_mount_on_the_run_directory()
    {
        Privileged.Require("ip");
        var names = Enumerable.Range(0, 8).Select(_ => NewName()).ToArray();
        try
        {
            Netns.Create(names[0]).Dispose();
            var before = RunDirectoryMounts();

            // Racing creators must not stack bind mounts of /run/netns on each other
            // (why iproute2 takes a flock there: Debian bug 949235).
            Parallel.ForEach(names.Skip(1), new ParallelOptions { MaxDegreeOfParallelism = 7 }, n => Netns.Create(n).Dispose());

            Assert.Equal(before, RunDirectoryMounts());
            Assert.Single(before);
            Assert.Contains("shared:", before[0]);
            var listed = Shell.Ip("netns", "list");
            Assert.All(names, n => Assert.Contains(n, listed));
        }
        finally
        {
            foreach (var n in names) Shell.Run("ip", ["netns", "del", n]);
        }
    }

    [PrivilegedFact("ip")]
    public void Delete_removes_a_namespace_made_by_either_side()
    {
        Privileged.Require("ip");
        var name = NewName();
        try
        {
            Netns.Create(name).Dispose();
            Netns.Delete(name);
            Assert.DoesNotContain(name, Shell.Ip("netns", "list"));
            Assert.False(Netns.Exists(name));
            Assert.False(Netns.TryDelete(name));
            Assert.Equal(Errno.ENOENT, Assert.Throws<NetlinkException>(() => Netns.Delete(name)).Error);
        }
        finally
        {
            Shell.Run("ip", ["netns", "del", name]);
        }

        using var byIproute2 = TestNetns.Create("ns");
        Assert.True(Netns.TryDelete(byIproute2.Name));
        Assert.DoesNotContain(byIproute2.Name, Shell.Ip("netns", "list"));
    }

    [PrivilegedFact("ip")]
    public void A_handle_keeps_the_namespace_alive_after_delete()
    {
        Privileged.Require("ip");
        var name = NewName();
        try
        {
            using var netns = Netns.Create(name);
            Netns.Delete(name);

            Assert.Equal(netns.Inode, Netns.Run(netns, CurrentThreadInode));
            Assert.Equal("1", Netns.Run(netns, () => File.ReadAllText("/sys/class/net/lo/ifindex").Trim()));
        }
        finally
        {
            Shell.Run("ip", ["netns", "del", name]);
        }
    }

    [PrivilegedFact("ip", "sleep")]
    public void Open_by_name_path_and_pid_reach_the_same_namespace()
    {
        Privileged.Require("ip", "sleep");
        using var ns = TestNetns.Create("ns");
        // ip netns exec execs sleep, so the child's pid is sleep's, running inside the namespace.
        using var sleep = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", ns.Name, "sleep", "60"]))!;
        try
        {
            using var byName = Netns.Open(ns.Name);
            using var byPath = Netns.Open(ns.Path);
            Eventually.True(() => NetnsInodeOfPid(sleep.Id) == byName.Inode, "sleep to enter the namespace");
            using var byPid = Netns.OpenPid(sleep.Id);
            using var current = Netns.OpenCurrent();

            Assert.Equal(InodeSeenByIpNetnsExec(ns.Name), byName.Inode);
            Assert.Equal(byName.Inode, byPath.Inode);
            Assert.Equal(byName.Inode, byPid.Inode);
            Assert.Equal(CurrentThreadInode(), current.Inode);
            Assert.NotEqual(byName.Inode, current.Inode);
            Assert.True(byName.Fd > 2);
        }
        finally
        {
            sleep.Kill();
            sleep.WaitForExit();
        }
    }

    [PrivilegedFact("ip")]
    public void Run_executes_inside_and_leaves_the_caller_where_it_was()
    {
        Privileged.Require("ip");
        using var ns = TestNetns.Create("ns");
        using var netns = Netns.Open(ns.Name);
        var before = CurrentThreadInode();
        var callerThread = Environment.CurrentManagedThreadId;

        var (inside, thread, loopbacks) = Netns.Run(netns, () =>
            (CurrentThreadInode(), Environment.CurrentManagedThreadId, Directory.GetDirectories("/proc/sys/net/ipv4/conf").Length));

        Assert.Equal(netns.Inode, inside);
        Assert.NotEqual(callerThread, thread);
        // A fresh namespace has lo, "all" and "default" only: the sysctl tree is the namespace's.
        Assert.Equal(3, loopbacks);
        Assert.Equal(before, CurrentThreadInode());
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setns(int fd, int nstype);

    [PrivilegedFact("ip")]
    public void Runs_one_after_another_each_land_in_their_own_namespace_whatever_the_one_before_did()
    {
        Privileged.Require("ip");
        using var nsA = TestNetns.Create("ns");
        using var nsB = TestNetns.Create("ns");
        using var a = Netns.Open(nsA.Name);
        using var b = Netns.Open(nsB.Name);
        using var own = Netns.OpenCurrent();

        // The threads are reused: an action that leaves its thread elsewhere (here: setns(2) back
        // into the caller's namespace) must not decide where the next action runs.
        Assert.Equal(a.Inode, Netns.Run(a, CurrentThreadInode));
        Assert.Equal(own.Inode, Netns.Run(a, () => setns(own.Fd, 0x40000000) == 0 ? CurrentThreadInode() : 0));
        Assert.Equal(b.Inode, Netns.Run(b, CurrentThreadInode));
        Assert.Equal(a.Inode, Netns.Run(a, CurrentThreadInode));
        var concurrent = Enumerable.Range(0, 16).AsParallel().WithDegreeOfParallelism(8)
            .Select(i => (Want: i % 2 == 0 ? a.Inode : b.Inode, Got: Netns.Run(i % 2 == 0 ? a : b, CurrentThreadInode)))
            .ToList();
        Assert.All(concurrent, r => Assert.Equal(r.Want, r.Got));
        Assert.Equal(own.Inode, CurrentThreadInode());
    }

    [PrivilegedFact("ip")]
    public void Run_rethrows_the_action_exception_and_leaves_the_caller_where_it_was()
    {
        Privileged.Require("ip");
        using var ns = TestNetns.Create("ns");
        using var netns = Netns.Open(ns.Name);
        var before = CurrentThreadInode();
        ulong thrownFrom = 0;

        var e = Assert.Throws<InvalidTimeZoneException>(() => Netns.Run(netns, () =>
        {
            thrownFrom = CurrentThreadInode();
            throw new InvalidTimeZoneException("from inside");
        }));

        Assert.Equal("from inside", e.Message);
        Assert.Equal(netns.Inode, thrownFrom);
        Assert.Equal(before, CurrentThreadInode());
        // The action's own frame is in the rethrown stack trace.
        Assert.Contains(nameof(Run_rethrows_the_action_exception_and_leaves_the_caller_where_it_was), e.StackTrace);
    }

    [PrivilegedFact("ip", "sysctl")]
    public void Sysctl_write_in_a_namespace_leaves_the_root_value_alone()
    {
        Privileged.Require("ip", "sysctl");
        using var ns = TestNetns.Create("ns");
        using var netns = Netns.Open(ns.Name);
        var rootBefore = File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim();
        var flipped = rootBefore == "1" ? "0" : "1";

        Netns.WriteSysctl(netns, "net.ipv4.ip_forward", flipped);

        Assert.Equal(flipped, Netns.ReadSysctl(netns, "net.ipv4.ip_forward"));
        Assert.Equal(flipped, Netns.ReadSysctl(netns, "net/ipv4/ip_forward"));
        Assert.Equal(flipped, Shell.Exec(ns.Name, "sysctl", "-n", "net.ipv4.ip_forward").EnsureSuccess("sysctl").Stdout.Trim());
        Assert.Equal(rootBefore, File.ReadAllText("/proc/sys/net/ipv4/ip_forward").Trim());

        // And the other way: what sysctl(8) writes in the namespace, the library reads.
        Shell.Exec(ns.Name, "sysctl", "-w", "net.ipv4.conf.lo.rp_filter=2").EnsureSuccess("sysctl -w");
        Assert.Equal("2", Netns.ReadSysctl(netns, "net.ipv4.conf.lo.rp_filter"));
    }

    [PrivilegedFact("ip")]
    public void Sysctl_errors_carry_errno_and_path()
    {
        Privileged.Require("ip");
        using var ns = TestNetns.Create("ns");
        using var netns = Netns.Open(ns.Name);

        var missing = Assert.Throws<NetlinkException>(() => Netns.ReadSysctl(netns, "net.ipv4.conf.nosuchdev.forwarding"));
        Assert.Equal(Errno.ENOENT, missing.Error);
        Assert.Contains("/proc/sys/net/ipv4/conf/nosuchdev/forwarding", missing.Message);

        var invalid = Assert.Throws<NetlinkException>(() => Netns.WriteSysctl(netns, "net.ipv4.ip_forward", "not-a-number"));
        Assert.Equal(Errno.EINVAL, invalid.Error);
    }

    [PrivilegedFact]
    public void Opening_a_missing_namespace_names_the_path()
    {
        Privileged.Require();
        var name = NewName();

        var byName = Assert.Throws<NetlinkException>(() => Netns.Open(name));
        Assert.Equal(Errno.ENOENT, byName.Error);
        Assert.Contains($"/run/netns/{name}", byName.Message);

        var byPid = Assert.Throws<NetlinkException>(() => Netns.OpenPid(int.MaxValue));
        Assert.Equal(Errno.ENOENT, byPid.Error);
        Assert.Contains($"/proc/{int.MaxValue}/ns/net", byPid.Message);
    }

    [Fact]
    public void Opening_a_file_that_is_not_a_namespace_fails_with_EINVAL()
    {
        var e = Assert.Throws<NetlinkException>(() => Netns.Open("/proc/self/status"));
        Assert.Equal(Errno.EINVAL, e.Error);
        Assert.Contains("not a network namespace", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    public void Invalid_names_are_refused_before_any_system_call(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => Netns.Create(name));
        Assert.ThrowsAny<ArgumentException>(() => Netns.TryDelete(name));
    }

    [PrivilegedFact("ip")]
    public void Sysctl_keys_are_spelled_as_sysctl8_spells_them()
    {
        Privileged.Require("ip");
        using var ns = TestNetns.Create("ns");
        using var netns = Netns.Open(ns.Name);
        // A device with a dot in its name, as a VLAN has: in the dotted form sysctl(8) writes
        // that dot as a slash; in the slashed form it stays a dot.
        Shell.IpIn(ns.Name, "link", "add", "d0.100", "type", "veth", "peer", "name", "d1");
        Shell.Exec(ns.Name, "sysctl", "-w", "net.ipv4.conf.d0/100.rp_filter=2").EnsureSuccess("sysctl -w");

        Assert.Equal("2", Netns.ReadSysctl(netns, "net.ipv4.conf.d0/100.rp_filter"));
        Assert.Equal("2", Netns.ReadSysctl(netns, "net/ipv4/conf/d0.100/rp_filter"));
    }

    [Theory]
    [InlineData("kernel.hostname")]
    [InlineData("vm/swappiness")]
    [InlineData("net")]
    [InlineData("net/../kernel/hostname")]
    [InlineData("net..ipv4")]
    public void Sysctl_keys_outside_net_are_refused(string key)
    {
        // Other sysctls are not per namespace: writing one "in a namespace" would change the machine.
        using var current = Netns.OpenCurrent();
        Assert.Throws<ArgumentException>(() => Netns.WriteSysctl(current, key, "0"));
        Assert.Throws<ArgumentException>(() => Netns.ReadSysctl(current, key));
    }

    internal static string NewName() => $"{TestNetns.Prefix}ns-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";

    /// <summary>The nsfs inode of the calling thread's network namespace.</summary>
    internal static ulong CurrentThreadInode() => InodeOfLink("/proc/thread-self/ns/net");

    /// <summary>The /proc/self/mountinfo lines whose mount point is /run/netns itself (field 5).</summary>
    private static string[] RunDirectoryMounts() =>
        File.ReadAllLines("/proc/self/mountinfo").Where(l => l.Split(' ')[4] == Netns.RunDirectory).ToArray();

    private static ulong NetnsInodeOfPid(int pid)
    {
        try { return InodeOfLink($"/proc/{pid}/ns/net"); }
        catch (IOException) { return 0; }
    }

    private static ulong InodeOfLink(string path)
    {
        var target = new FileInfo(path).LinkTarget!; // "net:[4026531840]"
        return ulong.Parse(target.AsSpan(5, target.Length - 6), CultureInfo.InvariantCulture);
    }

    /// <summary>The namespace inode as a process started by <c>ip netns exec</c> sees it.</summary>
    private static ulong InodeSeenByIpNetnsExec(string name)
    {
        var link = Shell.Exec(name, "readlink", "/proc/self/ns/net").EnsureSuccess("readlink").Stdout.Trim();
        return ulong.Parse(link.AsSpan(5, link.Length - 6), CultureInfo.InvariantCulture);
    }

}
