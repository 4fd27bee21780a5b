namespace Fathom.Netlink.Tests.Links;

/// <summary>RTNLGRP_LINK events from the real kernel, in a fresh namespace.</summary>
public sealed class LinkWatcherTests
{
    [PrivilegedFact("ip")]
    public void Links_appearing_and_vanishing_are_seen_without_polling()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        using var watcher = LinkWatcher.Open(ns.Handle);
        Assert.False(watcher.TryRead(TimeSpan.FromMilliseconds(50), out _));

        ns.Ip("link", "add", "hot0", "type", "veth", "peer", "name", "hot1");
        var created = ReadUntil(watcher, e => e.Kind == LinkEventKind.New && e.Link.Name == "hot0");
        Assert.Equal(ns.IndexOf("hot0"), created.Link.Index);
        Assert.Equal("veth", created.Link.Kind);

        ns.Ip("link", "del", "hot0");
        var deleted = ReadUntil(watcher, e => e.Kind == LinkEventKind.Deleted && e.Link.Name == "hot0");
        Assert.Equal(created.Link.Index, deleted.Link.Index);
    }

    [PrivilegedFact("ip")]
    public void A_link_moved_in_from_another_namespace_appears()
    {
        Privileged.Require("ip");
        using var host = KernelNetns.Create();
        using var node = KernelNetns.Create();
        using var watcher = LinkWatcher.Open(node.Handle);
        host.Ip("link", "add", "eni7", "type", "veth", "peer", "name", "eni7p");

        // The hot-plug of an ENI in the lab: the link moves into the node's namespace.
        host.Ip("link", "set", "eni7", "netns", node.Name);

        var plugged = ReadUntil(watcher, e => e.Kind == LinkEventKind.New && e.Link.Name == "eni7");
        Assert.Equal(node.IndexOf("eni7"), plugged.Link.Index);
    }

    [PrivilegedFact("ip")]
    public void A_port_leaving_its_bridge_is_not_reported_deleted()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        ns.Ip("link", "add", "br7", "type", "bridge");
        ns.Ip("link", "add", "port7", "type", "veth", "peer", "name", "port7p");
        ns.Ip("link", "set", "port7", "master", "br7");
        using var watcher = LinkWatcher.Open(ns.Handle);

        // The bridge tells RTNLGRP_LINK about a released port with an RTM_DELLINK of family
        // AF_BRIDGE (`ip monitor link` prints "Deleted port7"); the link itself stays.
        ns.Ip("link", "set", "port7", "nomaster");
        ns.Ip("link", "add", "mark7", "type", "veth", "peer", "name", "mark7p");
        var seen = ReadThrough(watcher, e => e.Kind == LinkEventKind.New && e.Link.Name == "mark7");
        Assert.DoesNotContain(seen, e => e.Kind == LinkEventKind.Deleted);
        Assert.Contains(seen, e => e.Kind == LinkEventKind.New && e.Link.Name == "port7" && e.Link.MasterIndex is null);

        // Deleting a port is one Deleted event for it, not one from the bridge and one from the link.
        ns.Ip("link", "set", "port7", "master", "br7");
        ns.Ip("link", "del", "port7");
        ns.Ip("link", "del", "mark7");
        seen = ReadThrough(watcher, e => e.Kind == LinkEventKind.Deleted && e.Link.Name == "mark7");
        Assert.Single(seen, e => e.Kind == LinkEventKind.Deleted && e.Link.Name == "port7");
    }

    [PrivilegedFact("ip")]
    public void Lost_events_are_ENOBUFS_once_and_the_watcher_reads_on()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        // A queue (the kernel doubles what is asked) that holds the few events of one veth pair
        // but not those of 40: a burst created while nobody reads overflows it, and the kernel
        // drops the rest for this socket and reports ENOBUFS once (net/netlink/af_netlink.c
        // netlink_overrun).
        using var watcher = LinkWatcher.Open(ns.Handle, receiveBufferBytes: 16 * 1024);
        for (int i = 0; i < 40; i++) ns.Netlink.CreateVeth($"burst{i}", $"peer{i}");

        NetlinkException? lost = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (lost is null && DateTime.UtcNow < deadline)
        {
            try
            {
                if (!watcher.TryRead(TimeSpan.FromMilliseconds(100), out _)) break;
            }
            catch (NetlinkException e)
            {
                lost = e;
            }
        }
        Assert.NotNull(lost);
        Assert.Equal(Errno.ENOBUFS, lost.Error);

        // What the caller does then (LinkWatcher's contract): relist, and read on.
        Assert.Equal(40, ns.Netlink.ListLinks().Count(l => l.Name.StartsWith("burst", StringComparison.Ordinal)));
        ns.Ip("link", "add", "after0", "type", "veth", "peer", "name", "after1");
        var after = ReadUntil(watcher, e => e.Kind == LinkEventKind.New && e.Link.Name == "after0");
        Assert.Equal(ns.IndexOf("after0"), after.Link.Index);
    }

    [PrivilegedFact("ip")]
    public void A_wait_interrupted_by_signals_still_ends_at_its_time_out()
    {
        Privileged.Require("ip");
        using var ns = KernelNetns.Create();
        using var watcher = LinkWatcher.Open(ns.Handle);
        int waiter = NativeThread.Gettid();
        using var stop = new ManualResetEventSlim();
        // Every 20 ms for 3 s a signal interrupts the waiting thread's poll(2) with EINTR; a wait
        // that started its 300 ms over at each one would last until the signals stop.
        var signaller = new Thread(() =>
        {
            var until = Environment.TickCount64 + 3_000;
            while (!stop.Wait(20) && Environment.TickCount64 < until)
                NativeThread.Tgkill(Environment.ProcessId, waiter, NativeThread.SIGCHLD);
        });
        signaller.Start();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        bool got;
        try
        {
            got = watcher.TryRead(TimeSpan.FromMilliseconds(300), out _);
        }
        finally
        {
            stop.Set();
            signaller.Join();
        }
        Assert.False(got);
        Assert.InRange(clock.ElapsedMilliseconds, 250, 5_000);
    }

    /// <summary>Every event up to and including the first that matches.</summary>
    private static List<LinkEvent> ReadThrough(LinkWatcher watcher, Func<LinkEvent, bool> last)
    {
        var seen = new List<LinkEvent>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (!watcher.TryRead(TimeSpan.FromSeconds(1), out var e)) continue;
            seen.Add(e);
            if (last(e)) return seen;
        }
        throw new TimeoutException("the expected link event did not arrive");
    }

    private static LinkEvent ReadUntil(LinkWatcher watcher, Func<LinkEvent, bool> match) => ReadThrough(watcher, match)[^1];
}
