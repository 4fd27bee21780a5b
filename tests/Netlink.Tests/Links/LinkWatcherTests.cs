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

    private static LinkEvent ReadUntil(LinkWatcher watcher, Func<LinkEvent, bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
            if (watcher.TryRead(TimeSpan.FromSeconds(1), out var e) && match(e)) return e;
        throw new TimeoutException("the expected link event did not arrive");
    }
}
