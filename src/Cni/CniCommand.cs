namespace Fathom.Cni;

/// <summary>The operations of CNI spec 1.1 (the value of CNI_COMMAND).</summary>
public enum CniCommand
{
    /// <summary>Attach a container to the network.</summary>
    Add,
    /// <summary>Detach; idempotent, succeeds when the netns is gone.</summary>
    Del,
    /// <summary>Verify the live state against prevResult (spec ≥ 0.4.0).</summary>
    Check,
    /// <summary>Is the plugin ready to serve ADD (spec ≥ 1.1.0)?</summary>
    Status,
    /// <summary>Release everything not listed in <c>cni.dev/attachments</c> (spec ≥ 1.1.0).</summary>
    Gc,
    /// <summary>Report the supported spec versions.</summary>
    Version,
}
