using System.Net.NetworkInformation;
using Fathom.Cni;
using Fathom.Datapath.Underlay;
using Fathom.Netlink;

namespace Fathom.Datapath.Underlay.Tests;

/// <summary>
/// Device selection as pure logic: config validation, and <c>kernelpath</c> against a fake sysfs
/// (this machine has no spare NIC with a /sys/devices path; the reference host-device tests
/// fake the filesystem the same way).
/// </summary>
public sealed class DeviceSelectorTests : IDisposable
{
    private readonly string _sys = Directory.CreateTempSubdirectory("fathom-ul-sysfs-").FullName;

    public void Dispose() => Directory.Delete(_sys, recursive: true);

    private static NetworkConfig Config(string json) => NetworkConfig.Parse(System.Text.Encoding.UTF8.GetBytes(json));

    private static DeviceSelector Selector(NetworkConfig config) => UnderlayConfig.Parse(config).Selector;

    private static Link L(int index, string name, string mac) => new()
    {
        Index = index,
        Name = name,
        Mac = PhysicalAddress.Parse(mac.Replace(':', '-')),
    };

    private static readonly Link[] Links = [L(2, "eth0", "02:00:00:00:00:01"), L(3, "eth10", "02:00:00:00:00:0a"), L(4, "ens5", "02:00:00:00:00:05")];

    [Theory]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom"}""", "specify either")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","hwaddr":"zz:00"}""", "hwaddr")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","kernelpath":"/tmp/x"}""", "/sys/devices/")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","kernelpath":"/sys/devices/../../etc"}""", "/sys/devices/")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"has space"}""", "device")]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"waytoolongname123"}""", "device")]
    public void InvalidSelectionIsInvalidConfig(string json, string mentioned)
    {
        var e = Assert.Throws<CniException>(() => Selector(Config(json)));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains(mentioned, e.Message);
    }

    [Fact]
    public void NameWinsOverHwAddrAsInHostDevice()
    {
        var s = Selector(Config("""{"cniVersion":"1.1.0","name":"n","type":"fathom","device":"eth10","hwaddr":"02:00:00:00:00:05"}"""));
        Assert.Equal("eth10", s.Find(Links, _sys)!.Name);
    }

    [Theory]
    [InlineData("02:00:00:00:00:0a")]
    [InlineData("02:00:00:00:00:0A")]
    [InlineData("02-00-00-00-00-0a")]
    public void HwAddrMatchesInAnyCaseAndSeparator(string mac)
    {
        var s = Selector(Config($$"""{"cniVersion":"1.1.0","name":"n","type":"fathom","hwaddr":"{{mac}}"}"""));
        Assert.Equal("eth10", s.Find(Links, _sys)!.Name);
    }

    [Fact]
    public void KernelPathFindsTheNetdevListedUnderItsNetDirectory()
    {
        // /sys/devices/pci0000:00/0000:00:05.0/net/ens5 (a NIC whose netdev sits right under the PCI device)
        Directory.CreateDirectory(Path.Combine(_sys, "devices/pci0000:00/0000:00:05.0/net/ens5"));
        var s = Selector(Config("""{"cniVersion":"1.1.0","name":"n","type":"fathom","kernelpath":"/sys/devices/pci0000:00/0000:00:05.0"}"""));
        Assert.Equal("ens5", s.Find(Links, _sys)!.Name);
    }

    [Fact]
    public void KernelPathFindsTheNetdevWhoseDeviceLinkResolvesToIt()
    {
        // virtio: /sys/class/net/eth10/device -> /sys/devices/pci0000:00/0000:00:03.0/virtio2
        var dev = Path.Combine(_sys, "devices/pci0000:00/0000:00:03.0/virtio2");
        Directory.CreateDirectory(dev);
        Directory.CreateDirectory(Path.Combine(_sys, "class/net/eth10"));
        File.CreateSymbolicLink(Path.Combine(_sys, "class/net/eth10/device"), dev);
        var s = Selector(Config("""{"cniVersion":"1.1.0","name":"n","type":"fathom","kernelpath":"/sys/devices/pci0000:00/0000:00:03.0/virtio2"}"""));
        Assert.Equal("eth10", s.Find(Links, _sys)!.Name);
    }

    [Fact]
    public void KernelPathWithoutAMatchingNetdevFindsNothing()
    {
        Directory.CreateDirectory(Path.Combine(_sys, "devices/pci0000:00/0000:00:07.0/net/enp7s0")); // not a link of this netns
        var s = Selector(Config("""{"cniVersion":"1.1.0","name":"n","type":"fathom","kernelpath":"/sys/devices/pci0000:00/0000:00:07.0"}"""));
        Assert.Null(s.Find(Links, _sys));
    }
}
