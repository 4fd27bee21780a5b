using System.Net;
using System.Text;
using Fathom.Netlink;

namespace Fathom.Cni.Tests;

public sealed class NetworkConfigTests
{
    private static NetworkConfig Parse(string json) => NetworkConfig.Parse(Encoding.UTF8.GetBytes(json));

    private static CniErrorCode Fails(string json) => Assert.Throws<CniException>(() => Parse(json)).Code;

    [Fact]
    public void An_escaped_string_is_read_as_its_text_not_as_JSON()
    {
        // Strings are read with JsonValue.ToString() (no generic virtual call): it must be the text itself.
        var config = Parse("""{"cniVersion":"1.1.0","name":"n\u0065t-1","type":"fathom","device":"e\"q\" \\ \u00e9\t\ud83d\ude00","cniVersions":["1.1.0","1.0\u002e0"]}""");
        Assert.Equal("net-1", config.Name);
        Assert.Equal("e\"q\" \\ \u00e9\t\U0001F600", config.OptionalString("device"));
        Assert.Equal(["1.1.0", "1.0.0"], config.OptionalStringArray("cniVersions"));
    }

    [Fact]
    public void Parses_every_field_of_the_core_and_keeps_a_modes_keys_for_it()
    {
        const string json = """
            {
              "cniVersion": "1.1.0",
              "name": "underlay-net",
              "type": "fathom",
              "mode": "underlay",
              "device": "eth10",
              "hwaddr": "02:00:00:00:00:10",
              "kernelpath": "/sys/devices/pci0000:00/0000:00:04.0",
              "logFile": "/var/log/fathom-cni.log",
              "ipam": { "type": "static", "addresses": [ { "address": "10.10.0.5/24", "gateway": "10.10.0.1" } ] },
              "dns": { "nameservers": ["10.10.0.2"], "domain": "cluster.local", "search": ["svc.cluster.local"], "options": ["ndots:5"] },
              "runtimeConfig": { "mac": "02:00:00:00:00:99" },
              "args": { "cni": { "labels": [] } },
              "somethingElse": 42
            }
            """;
        var config = Parse(json);
        Assert.Equal("1.1.0", config.CniVersion);
        Assert.Equal("underlay-net", config.Name);
        Assert.Equal("fathom", config.Type);
        Assert.Equal("underlay", config.Mode);
        // A mode's own keys are read by the mode (UnderlayConfig), through the core's typed accessors.
        Assert.Equal("eth10", config.OptionalString("device"));
        Assert.Equal("02:00:00:00:00:10", config.OptionalString("hwaddr"));
        Assert.Equal("/sys/devices/pci0000:00/0000:00:04.0", config.OptionalString("kernelpath"));
        Assert.Equal(CniErrorCode.InvalidNetworkConfig, Assert.Throws<CniException>(() => config.OptionalString("somethingElse")).Code);
        Assert.Equal("/var/log/fathom-cni.log", config.LogFile);
        Assert.Equal("static", config.IpamType);
        Assert.NotNull(config.Ipam!["addresses"]);
        Assert.Equal(["10.10.0.2"], config.Dns!.Nameservers);
        Assert.Equal("cluster.local", config.Dns.Domain);
        Assert.Equal(["svc.cluster.local"], config.Dns.Search);
        Assert.Equal(["ndots:5"], config.Dns.Options);
        Assert.Equal("02:00:00:00:00:99", (string)config.RuntimeConfig!["mac"]!);
        Assert.NotNull(config.Args);
        Assert.Equal(42, (int)config.Raw["somethingElse"]!); // unknown fields are kept for delegates
        Assert.Equal(json, Encoding.UTF8.GetString(config.RawBytes.Span));
        Assert.Null(config.PrevResult);
        Assert.Empty(config.ValidAttachments);
    }

    [Fact]
    public void Mode_is_left_to_the_plugins_table_and_ipam_is_optional()
    {
        var config = Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","device":"eth1"}""");
        Assert.Null(config.Mode); // which mode a config without one gets is the plugin's choice (CniModes)
        Assert.Null(config.Ipam);
        Assert.Null(config.IpamType);
    }

    [Fact]
    public void An_empty_ipam_object_means_no_ipam()
    {
        // As the reference plugins: "ipam": {} has no type, so nothing is delegated.
        var config = Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":{}}""");
        Assert.Null(config.IpamType);
    }

    [Fact]
    public void Reads_prevResult_of_any_version()
    {
        var config = Parse("""
            {"cniVersion":"0.4.0","name":"n","type":"fathom",
             "prevResult":{"cniVersion":"0.3.1","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/x"}],
                           "ips":[{"version":"4","address":"10.0.0.5/24","gateway":"10.0.0.1","interface":0}]}}
            """);
        var ip = Assert.Single(config.PrevResult!.Ips);
        Assert.Equal(IpPrefix.Parse("10.0.0.5/24"), ip.Address);
        Assert.Equal(IPAddress.Parse("10.0.0.1"), ip.Gateway);
        Assert.Equal(0, ip.Interface);
    }

    [Fact]
    public void Reads_gc_attachments()
    {
        var config = Parse("""
            {"cniVersion":"1.1.0","name":"n","type":"fathom",
             "cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"},{"containerID":"c2","ifname":"net1"}]}
            """);
        Assert.Equal(2, config.ValidAttachments.Count);
        Assert.Contains(("c1", "eth0"), config.ValidAttachments);
        Assert.Contains(("c2", "net1"), config.ValidAttachments);
    }

    [Fact]
    public void CniVersions_are_negotiated_when_cniVersion_is_absent()
    {
        var config = Parse("""{"cniVersions":["0.4.0","1.0.0","1.1.0","2.0.0"],"name":"n","type":"fathom"}""");
        Assert.Equal("1.1.0", config.CniVersion);
        Assert.Equal(["0.4.0", "1.0.0", "1.1.0", "2.0.0"], config.CniVersions);
    }

    [Theory]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom",}""", CniErrorCode.DecodeFailure)]
    [InlineData("""not json""", CniErrorCode.DecodeFailure)]
    [InlineData("", CniErrorCode.DecodeFailure)]
    [InlineData("""[1,2]""", CniErrorCode.DecodeFailure)]
    [InlineData("""null""", CniErrorCode.DecodeFailure)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","name":"m","type":"fathom"}""", CniErrorCode.DecodeFailure)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":{"type":"a","type":"b"}}""", CniErrorCode.DecodeFailure)]
    [InlineData("""{"cniVersion":"1.0.0","type":"fathom"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"","type":"fathom"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"my net","type":"fathom"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":7,"type":"fathom"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","mode":""}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","mode":3}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","logFile":5}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","dataDir":true}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":"host-local"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":{"subnet":"10.0.0.0/24"}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":{"type":""}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":{"type":"../bin/sh"}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","dns":[]}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","dns":{"nameservers":"8.8.8.8"}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","runtimeConfig":[]}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","logFile":{}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","prevResult":"x"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","prevResult":{"ips":[{"address":"10.0.0.5"}]}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","prevResult":{"ips":[{"address":"10.0.0.5/24","interface":-1}]}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","prevResult":{"interfaces":[{"mac":"x"}]}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.0.0","name":"n","type":"fathom","prevResult":{"routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.1/24"}]}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","cni.dev/attachments":{}}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"1.1.0","name":"n","type":"fathom","cni.dev/attachments":[{"containerID":"c"}]}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersion":"0.2.0","name":"n","type":"fathom"}""", CniErrorCode.IncompatibleVersion)]
    [InlineData("""{"cniVersion":"1.2.0","name":"n","type":"fathom"}""", CniErrorCode.IncompatibleVersion)]
    [InlineData("""{"name":"n","type":"fathom"}""", CniErrorCode.IncompatibleVersion)]
    [InlineData("""{"cniVersions":["0.1.0","2.0.0"],"name":"n","type":"fathom"}""", CniErrorCode.IncompatibleVersion)]
    [InlineData("""{"cniVersion":1,"name":"n","type":"fathom"}""", CniErrorCode.InvalidNetworkConfig)]
    [InlineData("""{"cniVersions":"1.0.0","name":"n","type":"fathom"}""", CniErrorCode.InvalidNetworkConfig)]
    public void Malformed_configs_fail_with_their_code(string json, CniErrorCode code) => Assert.Equal(code, Fails(json));

    [Fact]
    public void Errors_name_the_field_at_fault()
    {
        var e = Assert.Throws<CniException>(() => Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","logFile":5}"""));
        Assert.Contains("\"logFile\"", e.Message);
        e = Assert.Throws<CniException>(() => Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","prevResult":{"ips":[{"address":"x/24"}]}}"""));
        Assert.Contains("prevResult.ips[0].address", e.Message);
        e = Assert.Throws<CniException>(() => Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","ipam":{"subnet":"10.0.0.0/24"}}"""));
        Assert.Contains("ipam.type", e.Message);
    }

    [Fact]
    public void A_decode_error_says_where()
    {
        var e = Assert.Throws<CniException>(() => Parse("{\"cniVersion\":\"1.0.0\",\n \"name\": }"));
        Assert.Equal(CniErrorCode.DecodeFailure, e.Code);
        Assert.Contains("line 2", e.Details);
    }

    [Theory]
    [InlineData(3, "\"k1\" twice in \"labels\"")]
    [InlineData(40, "\"k1\" twice in \"labels\"")] // past 16 keys, where System.Text.Json's own check would load OpenSSL
    public void A_key_given_twice_is_named_with_its_object(int keys, string expected)
    {
        var labels = string.Join(",", Enumerable.Range(0, keys).Select(i => $"\"k{i}\":{i}"));
        var json = """{"cniVersion":"1.0.0","name":"n","type":"fathom","labels":{""" + labels + ""","k1":"again"}}""";
        var e = Assert.Throws<CniException>(() => Parse(json));
        Assert.Equal(CniErrorCode.DecodeFailure, e.Code);
        Assert.Contains("a key given twice", e.Message);
        Assert.Contains(expected, e.Details);

        e = Assert.Throws<CniException>(() => Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","name":"m"}"""));
        Assert.Contains("\"name\" twice in the top-level object", e.Details);
        // The same key in two objects, or in objects of an array, is no duplicate.
        Parse("""{"cniVersion":"1.0.0","name":"n","type":"fathom","a":{"name":1},"b":[{"k":1},{"k":2}]}""");
    }

    [Fact]
    public void A_syntax_error_is_reported_before_a_duplicate_key()
    {
        var e = Assert.Throws<CniException>(() => Parse("{\"cniVersion\":\"1.0.0\",\"name\":\"n\",\"name\":\"m\",\n \"type\": }"));
        Assert.Contains("not valid JSON", e.Message);
        Assert.Contains("line 2", e.Details);
    }

    [Theory]
    [InlineData("""{"cniVersion":"0.4.0","name":"n"}""", "0.4.0")]
    [InlineData("""{"name":"n","x":{"cniVersion":"9"},"cniVersion":"1.1.0"}""", "1.1.0")]
    [InlineData("""{"name":"n"}""", null)]
    [InlineData("""{"cniVersion":4}""", null)]
    [InlineData("""not json""", null)]
    [InlineData("""{"cniVersion":"1.0.0", broken""", "1.0.0")]
    public void PeekVersion_reads_only_the_version(string json, string? expected) =>
        Assert.Equal(expected, NetworkConfig.PeekVersion(Encoding.UTF8.GetBytes(json)));
}
