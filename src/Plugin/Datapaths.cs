using Fathom.Cni;

namespace Fathom.Plugin;

/// <summary>The constructors of each mode's datapath (src/Datapath/&lt;Mode&gt;).</summary>
internal static class Datapaths
{
    /// <summary>
    /// underlay (issue 3 §2). Placeholder until Fathom.Datapath.Underlay.UnderlayDatapath lands:
    /// then this becomes <c>new UnderlayDatapath()</c>.
    /// </summary>
    public static IDatapath Underlay() =>
        throw new CniException(CniErrorCode.NotAvailable, "the underlay datapath is not built yet");
}
