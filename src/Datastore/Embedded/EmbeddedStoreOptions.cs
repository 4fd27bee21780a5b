namespace Fathom.Datastore.Embedded;

/// <summary>Where and how the embedded store keeps its leases (configuration section <c>datastore.embedded</c>).</summary>
/// <param name="Directory">The store's directory, shared by every agent of the machine (default /var/lib/fathom/datastore).</param>
public sealed record EmbeddedStoreOptions(string Directory)
{
    /// <summary>The default directory.</summary>
    public const string DefaultDirectory = "/var/lib/fathom/datastore";

    /// <summary>The TTL a lease gets at each acquisition or renewal.</summary>
    public TimeSpan Ttl { get; init; } = SubnetLeaseDefaults.Ttl;

    /// <summary>How often a watch rescans besides inotify: the bound on how late an expiry is seen.</summary>
    public TimeSpan RescanInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long an operation waits for the allocation lock.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
