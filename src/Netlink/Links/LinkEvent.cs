namespace Fathom.Netlink;

/// <summary>What happened to a link.</summary>
public enum LinkEventKind
{
    /// <summary>RTM_NEWLINK: a link appeared or changed (state, name, master, ...).</summary>
    New,

    /// <summary>RTM_DELLINK: a link vanished (deleted, or moved to another namespace).</summary>
    Deleted,
}

/// <summary>One RTNLGRP_LINK notification, read by a <see cref="LinkWatcher"/>.</summary>
/// <param name="Kind">New (appeared or changed) or deleted.</param>
/// <param name="Link">The link as the notification describes it.</param>
public readonly record struct LinkEvent(LinkEventKind Kind, Link Link);
