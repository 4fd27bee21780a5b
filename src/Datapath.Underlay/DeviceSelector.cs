using System.Net.NetworkInformation;
using Fathom.Netlink;

namespace Fathom.Datapath.Underlay;

/// <summary>
/// Which host device a config names: by <c>device</c> (name), <c>hwaddr</c> (MAC) or
/// <c>kernelpath</c> (its /sys/devices/... directory), in that order of precedence, as the
/// reference host-device plugin chooses (plugins/main/host-device/host-device.go getLink).
/// </summary>
internal sealed record DeviceSelector(string? Name, PhysicalAddress? Mac, string? KernelPath)
{
    /// <summary>The sysfs mount the plugin sees (its own netns's view under <c>ip netns exec</c>).</summary>
    internal const string SysRoot = "/sys";

    /// <summary>What the selector names, for messages: <c>device "eth10"</c>, <c>hwaddr 02:...</c>.</summary>
    public string Describe() =>
        Name is not null ? $"device \"{Name}\""
        : Mac is not null ? $"hwaddr {InterfaceNames.FormatMac(Mac)}"
        : $"kernelpath {KernelPath}";

    /// <summary>
    /// Finds the device on the host, or null. By name it is one RTM_GETLINK (the reference's
    /// netlink.LinkByName); the kernel looks links up by name or index only, so a MAC or a kernel
    /// path needs the dump of every link.
    /// </summary>
    public Link? Find(NetlinkHandle host) =>
        Name is not null ? (host.TryGetLink(Name, out var link) ? link : null) : Find(host.ListLinks());

    /// <summary>Finds the device among <paramref name="links"/> (the host's), or null.</summary>
    public Link? Find(IReadOnlyList<Link> links, string sysRoot = SysRoot)
    {
        if (Name is not null) return links.FirstOrDefault(l => l.Name == Name);
        if (Mac is not null) return links.FirstOrDefault(l => l.Mac is not null && l.Mac.Equals(Mac));
        return FindByKernelPath(links, KernelPath!, sysRoot);
    }

    /// <summary>
    /// The link whose device directory is <paramref name="kernelPath"/>: either it is listed in
    /// <c>KERNELPATH/net/</c> (the reference's rule, e.g. /sys/devices/pci0000:00/0000:00:19.0/net/eth0),
    /// or its <c>/sys/class/net/NAME/device</c> resolves to that path (virtio NICs keep their
    /// netdev one level down, under virtioN/net).
    /// </summary>
    internal static Link? FindByKernelPath(IReadOnlyList<Link> links, string kernelPath, string sysRoot)
    {
        var devicePath = Rebase(kernelPath.TrimEnd('/'), sysRoot);
        var netDir = Path.Combine(devicePath, "net");
        if (Directory.Exists(netDir))
        {
            // Sorted so that the choice is stable when a device has several ports.
            foreach (var entry in Directory.GetFileSystemEntries(netDir).Select(Path.GetFileName).Order(StringComparer.Ordinal))
                if (links.FirstOrDefault(l => l.Name == entry) is { } link) return link;
        }
        foreach (var link in links)
        {
            var deviceLink = Path.Combine(sysRoot, "class", "net", link.Name, "device");
            var target = ResolveLink(deviceLink);
            if (target is not null && string.Equals(target.TrimEnd('/'), devicePath, StringComparison.Ordinal))
                return link;
        }
        return null;
    }

    private static string Rebase(string sysPath, string sysRoot) =>
        sysRoot == SysRoot ? sysPath : Path.Combine(sysRoot, sysPath["/sys/".Length..]);

    private static string? ResolveLink(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is null) return null;
            return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    internal static bool TryParseMac(string text, out PhysicalAddress? mac)
    {
        mac = null;
        var parts = text.Split(':', '-');
        if (parts.Length != 6) return false;
        var bytes = new byte[6];
        for (var i = 0; i < 6; i++)
            if (parts[i].Length != 2 || !byte.TryParse(parts[i], System.Globalization.NumberStyles.HexNumber, null, out bytes[i]))
                return false;
        mac = new PhysicalAddress(bytes);
        return true;
    }

}
