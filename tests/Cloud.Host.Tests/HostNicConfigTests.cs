namespace Fathom.Cloud.Host.Tests;

/// <summary><c>cloud.host</c>: every refusal names the field and says what would do.</summary>
public sealed class HostNicConfigTests
{
    private static HostNicAddressing Nic(string name, string address, string? gateway = null) => new() { Name = name, Address = address, Gateway = gateway };

    [Fact]
    public void A_names_selector_with_static_addresses_is_valid()
    {
        var config = new HostNicConfig { Names = ["eth1", "eth2"], Nics = [Nic("eth1", "10.1.0.11/24"), Nic("eth2", "10.1.0.12/24", "10.1.0.254")] };
        Assert.Null(config.Validate());
        var (address, subnet, gateway) = config.Nics[0].Static();
        Assert.Equal(("10.1.0.11", "10.1.0.0/24", "10.1.0.1"), (address.ToString(), subnet.ToString(), gateway.ToString()));
        Assert.Equal("10.1.0.254", config.Nics[1].Static().Gateway.ToString());
        // Selected by name, addressed by MAC: only the kernel knows which name has which MAC.
        Assert.Null(new HostNicConfig { Names = ["eth1"], Nics = [new() { Mac = "02:00:00:00:00:01", Address = "10.1.0.11/24" }] }.Validate());
    }

    [Theory]
    [InlineData("""{}""", "cloud.host has no selector: set one of names, macs or pattern")]
    [InlineData("""{"names":[]}""", "cloud.host has no selector")]
    [InlineData("""{"names":["eth1"],"pattern":"eth*","defaultAddress":"dhcp"}""", "more than one selector")]
    [InlineData("""{"names":["eth/1"],"defaultAddress":"dhcp"}""", "cloud.host.names has 'eth/1', not an interface name")]
    [InlineData("""{"names":["averyveryverylongname"],"defaultAddress":"dhcp"}""", "not an interface name")]
    [InlineData("""{"macs":["02:00:00:00:00"],"defaultAddress":"dhcp"}""", "cloud.host.macs has '02:00:00:00:00', not a MAC address")]
    [InlineData("""{"pattern":"eth[0-3]","defaultAddress":"dhcp"}""", "cloud.host.pattern 'eth[0-3]' is not an interface-name glob")]
    [InlineData("""{"pattern":"eth*","defaultAddress":"static"}""", "cloud.host.defaultAddress 'static' is not dhcp")]
    [InlineData("""{"pattern":"eth*","defaultAddress":"dhcp","dhcpTimeoutSeconds":0}""", "cloud.host.dhcpTimeoutSeconds 0 is outside 1..60")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.300/24"}]}""", "cloud.host.nics[0].address '10.1.0.300/24' is not an IPv4 address with its prefix length")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.11"}]}""", "cloud.host.nics[0].address '10.1.0.11' is not an IPv4 address with its prefix length (10.1.0.11/24) or dhcp")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.11/33"}]}""", "is not an IPv4 address with its prefix length")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"fd00::1/64"}]}""", "is not an IPv4 address with its prefix length")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.11/31"}]}""", "a /31 leaves no room for a gateway")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.1/24"}]}""", "cloud.host.nics[0].address 10.1.0.1 is the subnet's gateway")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.11/24","gateway":"10.2.0.1"}]}""", "cloud.host.nics[0].gateway '10.2.0.1' is not an IPv4 address inside 10.1.0.0/24")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"dhcp","gateway":"10.1.0.1"}]}""", "gateway and secondaryAddresses come with a static address, not with dhcp")]
    [InlineData("""{"names":["eth1"],"nics":[{"name":"eth1","address":"10.1.0.11/24","secondaryAddresses":["10.1.1.5"]}]}""", "cloud.host.nics[0].secondaryAddresses has '10.1.1.5', not a host address of 10.1.0.0/24")]
    [InlineData("""{"names":["eth1"],"nics":[{"address":"10.1.0.11/24"}]}""", "cloud.host.nics[0]: give exactly one of name and mac")]
    [InlineData("""{"names":["eth1","eth2"],"nics":[{"name":"eth1","address":"10.1.0.11/24"},{"name":"eth2","address":"10.1.0.11/24"}]}""", "cloud.host.nics[1]: address 10.1.0.11 is given twice")]
    [InlineData("""{"names":["eth1","eth2"],"nics":[{"name":"eth1","address":"10.1.0.11/24"}]}""", "cloud.host.names has 'eth2' but cloud.host.nics gives it no address (add it to nics, or set defaultAddress dhcp)")]
    [InlineData("""{"names":["eth1"]}""", "cloud.host.names has 'eth1' but cloud.host.nics gives it no address")]
    [InlineData("""{"macs":["02:00:00:00:00:01"],"nics":[{"mac":"02:00:00:00:00:02","address":"10.1.0.11/24"}]}""", "cloud.host.macs has '02:00:00:00:00:01' but cloud.host.nics gives it no address")]
    public void A_wrong_config_is_refused_with_the_field_and_the_fix(string json, string expected)
    {
        var config = System.Text.Json.JsonSerializer.Deserialize(json, TestJson.Default.HostNicConfig)!;
        var error = config.Validate();
        Assert.NotNull(error);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_listed_NIC_is_addressed_by_name_or_mac_and_the_rest_by_the_default()
    {
        var config = new HostNicConfig
        {
            Pattern = "eth*",
            DefaultAddress = "dhcp",
            Nics = [Nic("eth1", "10.1.0.11/24"), new HostNicAddressing { Mac = "02:00:00:00:00:02", Address = "10.1.0.12/24" }],
        };
        Assert.Null(config.Validate());
        Assert.Equal("10.1.0.11/24", config.AddressingOf("eth1", NicSelector.ParseMac("02:00:00:00:00:09"))!.Address);
        Assert.Equal("10.1.0.12/24", config.AddressingOf("eth7", NicSelector.ParseMac("02:00:00:00:00:02"))!.Address);
        Assert.True(config.AddressingOf("eth8", NicSelector.ParseMac("02:00:00:00:00:08"))!.IsDhcp);
        Assert.Null((config with { DefaultAddress = null }).AddressingOf("eth8", NicSelector.ParseMac("02:00:00:00:00:08")));
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase)]
[System.Text.Json.Serialization.JsonSerializable(typeof(HostNicConfig))]
internal sealed partial class TestJson : System.Text.Json.Serialization.JsonSerializerContext;
