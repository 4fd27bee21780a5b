using Fathom.Agent.Protocol;
using Fathom.Cni;
using Fathom.Datapath.HostGw;
using Fathom.Datapath.Overlay;
using Fathom.Datapath.Shared;
using Fathom.Datapath.Underlay;

namespace Fathom.Plugin;

/// <summary>
/// <c>fathom</c>, the CNI plugin: its tables, as the reference plugins' <c>main</c> is — which
/// handler serves each CNI_COMMAND (the spec's, <see cref="CniCommands.Table"/>) and which
/// datapath serves each <c>mode</c> of a network config. Everything else (environment, config,
/// versions, IPAM, errors) is the core's <see cref="CniSkeleton"/>.
/// </summary>
internal static class Program
{
    // DESIGN.md §3: one network config selects one mode; a config without "mode" gets underlay.
    // Underlay naming a device is the static host-device form; naming none, its ENI comes from
    // fathom-agent. The agent-backed datapath gets the underlay mode's ENI wiring from here, so
    // no mode depends on another.
    private static readonly CniModes Modes = new(defaultMode: UnderlayDatapath.Mode)
    {
        [UnderlayDatapath.Mode] = c => UnderlayConfig.NamesDevice(c)
            ? UnderlayDatapath.FromConfig(c)
            : AgentDatapath.FromConfig(c, AllocationMode.Underlay, UnderlayEni.Instance),
        [AgentDatapath.SharedMode] = c => AgentDatapath.FromConfig(c, AllocationMode.Shared, UnderlayEni.Instance),
        [HostGwDatapath.Mode] = HostGwDatapath.FromConfig,
        [OverlayDatapath.Mode] = OverlayDatapath.FromConfig,
    };

    private static int Main() =>
        CniSkeleton.TryAnswerVersion() ? 0 : CniSkeleton.Run(CniCommands.Table, Modes, CniInvocation.FromProcess());
}
