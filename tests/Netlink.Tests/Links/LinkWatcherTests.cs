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

    private static LinkEvent ReadUntil(LinkWatcher watcher, Func<LinkEvent, bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
            if (watcher.TryRead(TimeSpan.FromSeconds(1), out var e) && match(e)) return e;
        throw new TimeoutException("the expected link event did not arrive");
    }
}
