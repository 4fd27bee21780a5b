using System.Diagnostics.CodeAnalysis;

namespace Fathom.Netlink;

/// <summary>
/// A subscription to RTNLGRP_LINK in one namespace: NICs appearing, changing and vanishing,
/// without polling. Not thread-safe: read from one thread.
/// </summary>
public sealed class LinkWatcher : IDisposable
{
    /// <summary>Subscribes in <paramref name="netns"/>, or in the calling thread's namespace when null.</summary>
    public static LinkWatcher Open(NetnsHandle? netns = null) => throw new NotImplementedException();

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the next event.
    /// </summary>
    /// <exception cref="NetlinkException">ENOBUFS when events were lost (relist the links, then read on).</exception>
    public bool TryRead(TimeSpan timeout, [MaybeNullWhen(false)] out LinkEvent linkEvent) => throw new NotImplementedException();

    /// <summary>Unsubscribes.</summary>
    public void Dispose() => throw new NotImplementedException();
}
