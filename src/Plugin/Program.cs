using Fathom.Cni;
using Fathom.Datapath.Underlay;

namespace Fathom.Plugin;

/// <summary>
/// <c>fathom</c>, the CNI plugin. Two tables, as the reference plugins' <c>main</c>: which
/// handler serves each CNI_COMMAND, and which datapath serves each <c>mode</c> of a network
/// config. Everything else (environment, config, versions, IPAM, errors) is the core's
/// <see cref="CniSkeleton"/>.
/// </summary>
internal static class Program
{
    private static readonly Dictionary<CniCommand, CniHandler> Handlers = new()
    {
        [CniCommand.Add] = CniCommands.Add,
        [CniCommand.Del] = CniCommands.Delete,
        [CniCommand.Check] = CniCommands.Check,
        [CniCommand.Status] = CniCommands.Status,
        [CniCommand.Gc] = CniCommands.GarbageCollect,
    };

    // DESIGN.md §3: one network config selects one mode.
    private static readonly Dictionary<string, Func<IDatapath>> Modes = new(StringComparer.Ordinal)
    {
        ["underlay"] = () => new UnderlayDatapath(),
    };

    private static int Main() =>
        CniSkeleton.TryAnswerVersion() ? 0 : CniSkeleton.Run(Handlers, Modes, CniInvocation.FromProcess());
}
