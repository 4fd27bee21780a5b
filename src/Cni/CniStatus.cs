namespace Fathom.Cni;

/// <summary>
/// What STATUS reports: available, or the code (50 not available, 51 limited connectivity)
/// and why. CNI spec 1.1 §STATUS: success means the plugin is ready to serve ADD.
/// </summary>
public sealed record CniStatus(CniErrorCode? Problem, string? Message)
{
    /// <summary>Ready to serve ADD.</summary>
    public static CniStatus Available { get; } = new(null, null);
}
