using Fathom.Cni;
using Fathom.Netlink;

namespace Fathom.Datapath.Underlay;

/// <summary>
/// The underlay mode's section of a network config: which host device the pod gets, by
/// <c>device</c> (name), <c>hwaddr</c> (MAC) or <c>kernelpath</c> (its /sys/devices/... path),
/// as the reference host-device plugin names it. Parsed from the config's own keys; a missing or
/// malformed field is error 7 naming it.
/// </summary>
public sealed record UnderlayConfig
{
    /// <summary>The host device by name.</summary>
    public string? Device { get; init; }

    /// <summary>The host device by MAC address.</summary>
    public System.Net.NetworkInformation.PhysicalAddress? HwAddr { get; init; }

    /// <summary>The host device by kernel path (its /sys/devices/... directory).</summary>
    public string? KernelPath { get; init; }

    /// <summary>The device these fields select, in the reference's order of precedence.</summary>
    internal DeviceSelector Selector => new(Device, HwAddr, KernelPath);

    /// <summary>
    /// Whether <paramref name="config"/> names its device (<c>device</c>, <c>hwaddr</c> or
    /// <c>kernelpath</c>): the static form. Naming none, an underlay network gets each pod's ENI
    /// from fathom-agent (docs/modes.md).
    /// </summary>
    public static bool NamesDevice(NetworkConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        return NullIfEmpty(config.OptionalString("device")) is not null
            || NullIfEmpty(config.OptionalString("hwaddr")) is not null
            || NullIfEmpty(config.OptionalString("kernelpath")) is not null;
    }

    /// <summary>Reads and validates the underlay keys of <paramref name="config"/>.</summary>
    public static UnderlayConfig Parse(NetworkConfig config)
    {
        var device = NullIfEmpty(config.OptionalString("device"));
        var hwaddr = NullIfEmpty(config.OptionalString("hwaddr"));
        var kernelPath = NullIfEmpty(config.OptionalString("kernelpath"));
        if (device is null && hwaddr is null && kernelPath is null)
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                "specify either \"device\", \"hwaddr\" or \"kernelpath\"",
                "underlay mode needs the host device to hand to the pod");

        System.Net.NetworkInformation.PhysicalAddress? mac = null;
        if (hwaddr is not null && !DeviceSelector.TryParseMac(hwaddr, out mac))
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"field \"hwaddr\" is \"{hwaddr}\": not a MAC address", "expected six hex octets such as 02:00:0a:00:00:01");

        if (kernelPath is not null &&
            (!Path.IsPathRooted(kernelPath) || !kernelPath.StartsWith("/sys/devices/", StringComparison.Ordinal)
             || kernelPath.Split('/').Contains("..")))
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"field \"kernelpath\" is \"{kernelPath}\": it must be absolute and begin with /sys/devices/");

        if (device is not null && !InterfaceNames.IsValid(device))
            throw new CniException(CniErrorCode.InvalidNetworkConfig,
                $"field \"device\" is \"{device}\": not a valid interface name");

        return new UnderlayConfig { Device = device, HwAddr = mac, KernelPath = kernelPath };
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
