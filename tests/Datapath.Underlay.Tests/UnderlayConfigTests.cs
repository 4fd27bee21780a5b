using System.Text;
using Fathom.Cni;

namespace Fathom.Datapath.Underlay.Tests;

/// <summary>The underlay section of a network config, parsed by the mode from its own keys.</summary>
public sealed class UnderlayConfigTests
{
    private static NetworkConfig Config(string fields) =>
        NetworkConfig.Parse(Encoding.UTF8.GetBytes($$"""{"cniVersion":"1.1.0","name":"n","type":"fathom"{{fields}}}"""));

    [Fact]
    public void Reads_device_hwaddr_and_kernelpath()
    {
        var config = UnderlayConfig.Parse(Config(""","device":"eth10","hwaddr":"02:00:00:00:00:10","kernelpath":"/sys/devices/pci0000:00/0000:00:04.0" """));
        Assert.Equal("eth10", config.Device);
        Assert.Equal("02:00:00:00:00:10", Fathom.Netlink.InterfaceNames.FormatMac(config.HwAddr!));
        Assert.Equal("/sys/devices/pci0000:00/0000:00:04.0", config.KernelPath);
    }

    [Theory]
    [InlineData(""","device":3""", "device")]
    [InlineData(""","device":"eth1","hwaddr":["02:00:00:00:00:10"]""", "hwaddr")]
    [InlineData(""","kernelpath":{}""", "kernelpath")]
    public void A_field_of_the_wrong_type_is_error_7_naming_it(string fields, string field)
    {
        var e = Assert.Throws<CniException>(() => UnderlayConfig.Parse(Config(fields)));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Equal($"field \"{field}\" must be a string", e.Message);
    }

    [Fact]
    public void The_modes_table_entry_parses_the_section_before_any_datapath_exists()
    {
        var modes = new CniModes(UnderlayDatapath.Mode) { [UnderlayDatapath.Mode] = UnderlayDatapath.FromConfig };
        Assert.IsType<UnderlayDatapath>(modes.Create(Config(""","device":"eth10" """)));
        var e = Assert.Throws<CniException>(() => modes.Create(Config("")));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, e.Code);
        Assert.Contains("specify either \"device\", \"hwaddr\" or \"kernelpath\"", e.Message);
        var unknown = Assert.Throws<CniException>(() => modes.Create(Config(""","mode":"overlay","device":"eth10" """)));
        Assert.Equal("unknown mode \"overlay\"", unknown.Message);
        Assert.Equal("fathom knows [underlay]", unknown.Details);
    }

    [Fact]
    public void Its_codes_are_100_and_101()
    {
        Assert.Equal(100, (int)UnderlayErrorCodes.DeviceNotFound);
        Assert.Equal(101, (int)UnderlayErrorCodes.DeviceBusy);
    }
}
