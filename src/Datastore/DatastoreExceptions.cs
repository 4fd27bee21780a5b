namespace Fathom.Datastore;

/// <summary>The datastore could not be reached, or could not decide, within its bound.</summary>
/// <remarks>The message names the datastore (kind and where) and the cause, e.g. etcd's quorum lost.</remarks>
public sealed class DatastoreUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DatastoreUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>Every subnet of the cluster CIDR is leased to a live node (or remembered for one).</summary>
public sealed class SubnetPoolExhaustedException : Exception
{
    /// <summary>Creates the exception for <paramref name="pool"/>.</summary>
    public SubnetPoolExhaustedException(SubnetPool pool, string nodeName)
        : base($"cluster CIDR {pool.ClusterCidr} has no free /{pool.SubnetLength} subnet for node '{nodeName}': all {pool.Count} are leased")
    {
        Pool = pool;
    }

    /// <summary>The pool that ran out.</summary>
    public SubnetPool Pool { get; }
}

/// <summary>What is stored disagrees with this store's configuration (another cluster CIDR or subnet length).</summary>
public sealed class DatastoreConfigurationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DatastoreConfigurationException(string message) : base(message) { }
}
