namespace Fathom.Datastore;

/// <summary>The lease timing both stores default to (docs/datastore.md explains the choice).</summary>
public static class SubnetLeaseDefaults
{
    /// <summary>
    /// 2 minutes: long enough for an agent restart or a short etcd election to pass unnoticed by
    /// peers, short enough that a dead node's routes go within minutes. (flannel's 24 h lease suits
    /// nodes that come back; Fathom's lab nodes come and go.)
    /// </summary>
    public static readonly TimeSpan Ttl = TimeSpan.FromMinutes(2);

    /// <summary>A third of the TTL: two renewals may fail before the lease is lost.</summary>
    public static TimeSpan RenewInterval(TimeSpan ttl) => ttl / 3;
}
